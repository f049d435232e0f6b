"""Drive engine internals with a real ``Task`` writing to memory, and read back the JSONL."""

import asyncio
import io
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from estuary_cdk.capture.common import CaptureBinding, ResourceConfig
from estuary_cdk.capture.task import Stopping, Task
from estuary_cdk.capture.transactor import Transactor
from estuary_cdk.flow import CollectionSpec
from estuary_cdk.http import SYSTEM_CLOCK, Clock
from estuary_cdk.testing import FakeClock

T0 = datetime(2025, 1, 1, tzinfo=UTC)


class FakeStatus:
    """Records what the engine reports to the connector status."""

    def __init__(self) -> None:
        self.bindings = 0
        self.backfilling: dict[int, int] = {}
        self.events: list[tuple[str, int]] = []

    def inc_binding_count(self) -> None:
        self.bindings += 1

    def inc_backfilling(self, idx: int) -> None:
        self.backfilling[idx] = self.backfilling.get(idx, 0) + 1
        self.events.append(("inc", idx))

    def dec_backfilling(self, idx: int) -> None:
        self.backfilling[idx] -= 1
        if not self.backfilling[idx]:
            del self.backfilling[idx]
        self.events.append(("dec", idx))


class EngineClock(FakeClock):
    """The kit's `FakeClock` (time moves only when the engine waits, every wait recorded in
    `sleeps`) handed to the harness's tasks, which also ends idle loops: its wait after
    `max_waits` waits sets the capture's stopping event instead of passing time."""

    def __init__(self, start: datetime = T0, max_waits: int = 100) -> None:
        super().__init__(start)
        self.max_waits = max_waits
        self.stopping: asyncio.Event | None = None  # the harness's, set by `Harness.run`

    @property
    def waits(self) -> list[timedelta]:
        """Every wait the engine asked for, as timedeltas."""
        return [timedelta(seconds=s) for s in self.sleeps]

    async def sleep(self, seconds: float) -> None:
        if self.stopping is not None and len(self.sleeps) >= self.max_waits:
            self.sleeps.append(max(0.0, seconds))
            self.stopping.set()
            await asyncio.sleep(0)
            return
        await super().sleep(seconds)


class Harness:
    """A root task writing to memory, on `clock` (the real one unless a test hands it an
    `EngineClock`)."""

    def __init__(self, requires_ack: bool = False, clock: Clock = SYSTEM_CLOCK) -> None:
        self.output = io.BytesIO()
        self.status = FakeStatus()
        self.stopping = Stopping()
        self.log = logging.getLogger("flow.test")
        self.requires_ack = requires_ack
        self.transactor: Transactor | None = None
        self.clock = clock
        if isinstance(clock, EngineClock):
            clock.stopping = self.stopping.event

    async def run(self, body: Callable[[Task], Awaitable[None]], limit: float = 5.0) -> None:
        async with asyncio.timeout(limit), asyncio.TaskGroup() as tg:
            self.transactor = Transactor(self.output, requires_explicit_acks=self.requires_ack)
            task = Task(
                self.log,  # type: ignore[arg-type]
                self.status,  # type: ignore[arg-type]
                "capture",
                self.output,
                self.stopping,
                tg,
                self.transactor,
                "acmeCo/test",
                self.requires_ack,
                clock=self.clock,
            )
            await body(task)

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.output.getvalue().splitlines()]

    def raw_lines(self) -> list[bytes]:
        return self.output.getvalue().splitlines()


def binding(
    name: str = "items",
    key: list[str] | None = None,
    interval: timedelta = timedelta(),
    config: Any = None,
    state_key: str | None = None,
) -> CaptureBinding[Any]:
    return CaptureBinding[Any](
        collection=CollectionSpec(name=f"acmeCo/{name}", key=key or ["/id"]),
        resourceConfig=config if config is not None else ResourceConfig(name=name, interval=interval),
        resourcePath=[name],
        stateKey=state_key or name,
    )


def checkpoints(lines: list[dict[str, Any]]) -> list[Any]:
    return [line["checkpoint"]["state"]["updated"] for line in lines if "checkpoint" in line]


def docs(lines: list[dict[str, Any]], binding: int | None = None) -> list[Any]:
    return [
        line["captured"]["doc"]
        for line in lines
        if "captured" in line and (binding is None or line["captured"]["binding"] == binding)
    ]


def apply_merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396, the tests' own: a deliberately independent copy (not `estuary_cdk.utils`'
    `json_merge_patch` nor flowctl's `merge_patch`), so the states the engine's checkpoints reduce
    to are checked by code that does not share their bugs."""
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = apply_merge_patch(out.get(k), v)
    return out


def reduce_checkpoints(state: Any, lines: list[dict[str, Any]]) -> Any:
    for line in lines:
        if "checkpoint" in line:
            cp = line["checkpoint"]["state"]
            assert cp["mergePatch"] is True
            state = apply_merge_patch(state, cp["updated"])
    return state


def detached_task(h: Harness) -> Task:
    """A Task for calling a task function directly (outside a TaskGroup), to observe its error."""
    return Task(
        h.log,  # type: ignore[arg-type]
        h.status,  # type: ignore[arg-type]
        "capture",
        h.output,
        h.stopping,
        asyncio.TaskGroup(),
        Transactor(h.output),
        "acmeCo/test",
        clock=h.clock,
    )
