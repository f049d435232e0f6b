"""One run of a capture under the crash/resume harness: started from a state, read until its kill
point (then SIGKILLed) or until it is caught up, and recorded as the transactions it committed
and the tail it did not.

Two targets, one loop:

* `ConnectorTarget`: the connector process itself, with the harness as its runtime. It sends
  `open` (the request flowctl builds from the catalog) with the state, commits each checkpoint
  the moment it reads it (acknowledging it when the connector asked for that), and considers
  nothing else committed: whatever the connector wrote after the kill point is its uncommitted
  tail.
* `PreviewTarget`: `flowctl preview --initial-state @FILE --output-state @FILE
  --until-caught-up`, killed with SIGKILL (flowctl alone: its connector must die with it). A
  transaction is committed once flowctl's state file holds its state; the file must always
  hold the state of a printed transaction (the last or, killed in between, the one before),
  and the next run resumes from it, as a user would.
"""

from __future__ import annotations

import copy
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import orjson

from ..utils import json_merge_patch
from ._crash_plan import KillPoint
from ._crash_process import EMPTY, ChildProcess, command_of, still_alive

__all__ = [
    "ConnectorTarget",
    "CrashHarnessError",
    "PreviewTarget",
    "RunRecord",
    "Target",
    "Transaction",
]

Doc = tuple[str, dict[str, Any]]
_BLOCKED_WAIT_S = 0.3
"""How long a `blocked` kill lets the writer fill the pipe before the kill."""
_ORPHAN_GRACE_S = 5.0


class CrashHarnessError(AssertionError):
    """A run could not be carried out: the capture failed by itself, never caught up, or the
    harness was set up wrongly. The message says which run and why."""


@dataclass
class Transaction:
    documents: list[Doc]
    state: dict[str, Any]
    """The reduced state once this transaction committed."""
    read_before_kill: bool = True


@dataclass
class RunRecord:
    """What one run did. `transactions[:durable]` are committed; the rest, and `trailing`, are
    its uncommitted tail."""

    number: int
    start_state: dict[str, Any]
    kill: KillPoint | None
    transactions: list[Transaction] = field(default_factory=list)
    trailing: list[Doc] = field(default_factory=list)
    durable: int = 0
    killed: bool = False
    cut_line: bool = False
    ended: str = ""
    seconds: float = 0.0
    stderr: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def committed(self) -> list[Transaction]:
        return self.transactions[: self.durable]

    @property
    def tail(self) -> list[Doc]:
        return [d for t in self.transactions[self.durable :] for d in t.documents] + self.trailing

    @property
    def end_state(self) -> dict[str, Any]:
        return self.committed[-1].state if self.committed else self.start_state

    @property
    def committed_documents(self) -> int:
        return sum(len(t.documents) for t in self.committed)


def _fold(state: dict[str, Any], updated: Any, merge: bool) -> dict[str, Any]:
    """A checkpoint's state update (flow-protocol §2.4): an RFC 7396 merge patch or a replacement."""
    if not merge:
        return copy.deepcopy(updated) if isinstance(updated, dict) else {}
    out = copy.deepcopy(state)
    if isinstance(updated, dict):
        json_merge_patch(out, copy.deepcopy(updated))
    return out


def _backfilling(state: dict[str, Any]) -> bool:
    """Whether the kit's state shows a backfill in progress (as `flowctl --until-caught-up`)."""
    bindings = state.get("bindingStateV1")
    return isinstance(bindings, dict) and any(
        isinstance(b, dict) and b.get("backfill") not in (None, {}) for b in bindings.values()
    )


class Target(Protocol):
    """Something the harness can run from a state up to a kill point."""

    name: str
    collection_keys: dict[str, list[str]]

    def run(self, number: int, state: dict[str, Any], kill: KillPoint | None) -> RunRecord: ...


@dataclass
class _Event:
    kind: str  # "doc" | "commit" | "opened" | "other"
    doc: Doc | None = None
    updated: Any = None
    merge: bool = True
    explicit_acks: bool = False


class _Loop:
    """Reads one process's output as transactions, kills it at `kill`, and stops it once caught
    up (`idle` seconds without a document and no backfill in progress) when `idle` is set."""

    def __init__(
        self,
        child: ChildProcess,
        record: RunRecord,
        decode: Callable[[bytes], _Event],
        on_commit: Callable[[], None],
        idle: float | None,
        max_seconds: float,
    ) -> None:
        self.child, self.record, self.decode, self.on_commit = child, record, decode, on_commit
        self.idle, self.max_seconds = idle, max_seconds
        self.state = copy.deepcopy(record.start_state)
        self.pending: list[Doc] = []
        self.documents = 0
        self.explicit_acks = False

    def run(self) -> None:
        record, kill = self.record, self.record.kill
        started = time.monotonic()
        first_line: float | None = None
        last_doc: float | None = None  # idle time counts from the first line: startup is no idling
        while True:
            now = time.monotonic()
            deadlines = [started + self.max_seconds]
            if kill is not None and kill.kind == "time" and first_line is not None:
                deadlines.append(first_line + kill.at)
            if self.idle is not None and last_doc is not None:
                deadlines.append(last_doc + self.idle)
            line = self.child.get(min(deadlines) - now)
            now = time.monotonic()
            if line is EMPTY:
                if kill is not None and kill.kind == "time" and first_line is not None:
                    if now >= first_line + kill.at:
                        return self._kill()
                idle_since = last_doc if last_doc is not None else now
                if self.idle is not None and now >= idle_since + self.idle and not _backfilling(self.state):
                    record.ended = "caught up"
                    return
                if now >= started + self.max_seconds:
                    raise CrashHarnessError(
                        f"run {record.number} did not catch up within {self.max_seconds:g}s"
                        + _stderr_tail(self.child)
                    )
                continue
            if line is None:
                record.ended = "exited"
                return
            first_line = first_line if first_line is not None else now
            last_doc = last_doc if last_doc is not None else now
            if not line.endswith(b"\n"):
                record.cut_line = True
                continue
            event = self.decode(line)
            if event.kind == "doc":
                self.pending.append(event.doc)  # type: ignore[arg-type]
                self.documents += 1
                last_doc = now
                if kill is not None and kill.kind == "document" and self.documents >= kill.at:
                    return self._kill()
            elif event.kind == "commit":
                self._commit(event)
                if kill is not None and kill.kind in ("checkpoint", "blocked"):
                    if len(record.transactions) >= kill.at:
                        return self._kill(blocked=kill.kind == "blocked")
            elif event.kind == "opened":
                self.explicit_acks = event.explicit_acks

    def _commit(self, event: _Event, read_before_kill: bool = True) -> None:
        self.state = _fold(self.state, event.updated, event.merge)
        self.record.transactions.append(Transaction(self.pending, self.state, read_before_kill))
        self.pending = []
        if read_before_kill:
            self.on_commit()

    def _kill(self, blocked: bool = False) -> None:
        if blocked:
            self.child.pause_reading()
            time.sleep(_BLOCKED_WAIT_S)
        self.record.killed = True
        self.record.ended = "killed"
        self.child.kill(whole_group=self.record.kill is None or not self.kill_alone)

    kill_alone = False
    """Kill only the process, not its session (flowctl's connectors must die by themselves)."""

    def complete(self) -> None:
        """Run to the kill point or the end, read what the process wrote after it, let it go."""
        try:
            self.run()
        finally:
            if self.child.proc.poll() is None:
                self.child.kill()
        self.drain()
        self.child.finish()
        self.record.stderr = list(self.child.stderr)

    def drain(self) -> None:
        """Everything the process wrote after the kill point: more transactions, or the tail."""
        for line in self.child.rest():
            if not line.endswith(b"\n"):
                self.record.cut_line = True
                continue
            event = self.decode(line)
            if event.kind == "doc":
                self.pending.append(event.doc)  # type: ignore[arg-type]
            elif event.kind == "commit":
                self._commit(event, read_before_kill=False)
        self.record.trailing = self.pending
        self.pending = []


def _stderr_tail(child: ChildProcess) -> str:
    lines = list(child.stderr)[-8:]
    return ("; its last stderr lines:\n  " + "\n  ".join(lines)) if lines else ""


def _flowctl_module(name: str) -> Any:
    """A flowctl module: flowctl (a dev dependency of every connector) builds the capture."""
    import importlib

    try:
        return importlib.import_module(f"flowctl.{name}")
    except ImportError:
        raise CrashHarnessError(
            "the crash/resume harness needs flowctl (a dev dependency of every connector: "
            'flowctl = {path = "../flowctl", develop = true}); run `poetry install` in the connector'
        ) from None


def catalog_keys(source: str | Path, capture: str | None) -> tuple[str, dict[str, list[str]]]:
    """The capture's name and the key of each collection its enabled bindings write."""
    catalog = _flowctl_module("catalog").load_catalog(source)
    task = catalog.capture(capture)
    keys = {b.target: list(catalog.collections[b.target].key) for b in task.bindings if not b.disable}
    return task.name, keys


class ConnectorTarget:
    """The connector process of a catalog's capture, with the harness as its runtime."""

    name = "connector"

    def __init__(
        self,
        argv: Sequence[str],
        env: dict[str, str],
        cwd: str,
        capture_spec: dict[str, Any],
        version: str,
        idle: float = 2.0,
        max_seconds: float = 120.0,
    ) -> None:
        self.argv, self.env, self.cwd = list(argv), env, cwd
        self.capture_spec, self.version = capture_spec, version
        self.bindings = [b["collection"]["name"] for b in capture_spec.get("bindings", [])]
        self.collection_keys = {
            b["collection"]["name"]: list(b["collection"]["key"]) for b in capture_spec.get("bindings", [])
        }
        self.idle, self.max_seconds = idle, max_seconds

    @classmethod
    def from_catalog(
        cls, source: str | Path, capture: str | None = None, idle: float = 2.0, max_seconds: float = 120.0
    ) -> ConnectorTarget:
        """Build the capture as flowctl does (Spec, config checks, Validate): the Open request
        carries exactly what `flowctl preview` would send."""
        import asyncio
        import concurrent.futures

        catalog_mod, build, launcher = (
            _flowctl_module("catalog"),
            _flowctl_module("build"),
            _flowctl_module("launcher"),
        )

        async def build_it() -> tuple[Any, Any]:
            catalog = catalog_mod.load_catalog(source)
            task = catalog.capture(capture)
            launch = await launcher.launch_for(task)
            built = await build.build_capture(catalog, task, launch, lambda _log: None)
            return launch, built

        # The harness may be called from async tests: build on a loop of its own.
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            launch, built = pool.submit(asyncio.run, build_it()).result()
        if getattr(launch, "connector_type", "LOCAL") != "LOCAL":
            raise CrashHarnessError("the connector target needs a local command (endpoint.local)")
        return cls(
            launch.argv, dict(launch.env), launch.cwd, built.capture_spec, built.version, idle, max_seconds
        )

    def _decode(self, line: bytes) -> _Event:
        try:
            message = orjson.loads(line)
        except orjson.JSONDecodeError:
            raise CrashHarnessError(f"the connector wrote a line that is not JSON: {line[:200]!r}") from None
        if not isinstance(message, dict):
            return _Event("other")
        if "captured" in message:
            captured = message["captured"]
            return _Event("doc", (self.bindings[captured.get("binding", 0)], captured["doc"]))
        if "checkpoint" in message:
            state = (message["checkpoint"] or {}).get("state") or {}
            return _Event("commit", updated=state.get("updated", {}), merge=bool(state.get("mergePatch")))
        if "opened" in message:
            return _Event(
                "opened", explicit_acks=bool((message["opened"] or {}).get("explicitAcknowledgements"))
            )
        return _Event("other")

    def run(self, number: int, state: dict[str, Any], kill: KillPoint | None) -> RunRecord:
        record = RunRecord(number, copy.deepcopy(state), kill)
        started = time.monotonic()
        child = ChildProcess(self.argv, self.env, self.cwd, stdin=True)
        request = {
            "open": {
                "capture": self.capture_spec,
                "version": self.version,
                "range": {"keyEnd": 4294967295, "rClockEnd": 4294967295},
                "state": state,
            }
        }
        child.send(orjson.dumps(request) + b"\n")
        loop = _Loop(child, record, self._decode, lambda: None, self.idle, self.max_seconds)

        def acknowledge() -> None:
            if loop.explicit_acks:
                child.send(b'{"acknowledge":{"checkpoints":1}}\n')

        loop.on_commit = acknowledge
        loop.complete()
        record.durable = sum(1 for t in record.transactions if t.read_before_kill)
        record.seconds = time.monotonic() - started
        code = child.proc.returncode
        if record.ended == "exited" and code != 0:
            raise CrashHarnessError(
                f"run {number}: the connector exited with status {code} by itself" + _stderr_tail(child)
            )
        return record


class PreviewTarget:
    """`flowctl preview` of a catalog's capture, resumed through its `--output-state` file."""

    name = "preview"

    def __init__(
        self,
        source: str | Path,
        capture: str | None = None,
        flowctl: Sequence[str] | None = None,
        idle: float = 2.0,
        max_seconds: float = 120.0,
        env: dict[str, str] | None = None,
    ) -> None:
        self.source = str(Path(source).resolve())
        self.capture, self.collection_keys = catalog_keys(source, capture)
        self.flowctl = list(flowctl or [sys.executable, "-m", "flowctl"])
        self.idle, self.max_seconds = idle, max_seconds
        self.env = dict(env if env is not None else os.environ)
        self.workdir = Path(tempfile.mkdtemp(prefix="crash-preview-"))

    def _decode(self, line: bytes) -> _Event:
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError:
            raise CrashHarnessError(
                f"flowctl preview printed a line that is not JSON: {line[:200]!r}"
            ) from None
        if not (isinstance(value, list) and len(value) == 2 and isinstance(value[0], str)):
            return _Event("other")
        kind, body = value
        if kind == "connectorState":
            return _Event("commit", updated=body.get("updated", {}), merge=bool(body.get("mergePatch")))
        if kind in self.collection_keys and isinstance(body, dict):
            return _Event("doc", (kind, body))
        return _Event("other")

    def run(self, number: int, state: dict[str, Any], kill: KillPoint | None) -> RunRecord:
        record = RunRecord(number, copy.deepcopy(state), kill)
        started = time.monotonic()
        state_file = self.workdir / "state.json"
        state_file.write_bytes(orjson.dumps(state))
        argv = [
            *self.flowctl,
            "preview",
            "--source",
            self.source,
            "--name",
            self.capture,
            "--initial-state",
            f"@{state_file}",
            "--output-state",
            f"@{state_file}",
            "--until-caught-up",
            "--caught-up-idle",
            f"{self.idle}s",
        ]
        child = ChildProcess(argv, self.env, Path(self.source).parent)
        loop = _Loop(child, record, self._decode, lambda: None, None, self.max_seconds)
        loop.kill_alone = True  # the real failure: flowctl killed, its connector must follow
        watched: list[int] = []
        original_kill = loop._kill

        def kill_and_watch(blocked: bool = False) -> None:
            watched.extend(child.descendants())
            original_kill(blocked)

        loop._kill = kill_and_watch  # type: ignore[method-assign]
        loop.complete()
        record.seconds = time.monotonic() - started
        self._orphans(record, watched)
        if record.ended == "exited" and child.proc.returncode != 0:
            raise CrashHarnessError(
                f"run {number}: flowctl preview exited with status {child.proc.returncode}"
                + _stderr_tail(child)
            )
        record.durable = self._durable(record, state_file)
        return record

    @staticmethod
    def _orphans(record: RunRecord, watched: list[int]) -> None:
        for pid in still_alive(watched, _ORPHAN_GRACE_S):
            record.problems.append(
                f"run {record.number}: process {pid} ({command_of(pid)}) outlived the killed flowctl "
                f"by {_ORPHAN_GRACE_S:g}s (killed now)"
            )
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass

    @staticmethod
    def _durable(record: RunRecord, state_file: Path) -> int:
        """How many printed transactions the state file says are committed: all of them, or
        (killed between a transaction's lines and its file) all but the last."""
        try:
            held = orjson.loads(state_file.read_bytes())
        except (OSError, orjson.JSONDecodeError) as err:
            record.problems.append(
                f"run {record.number}: the --output-state file is unreadable or torn: {err}"
            )
            return 0
        states = [record.start_state, *(t.state for t in record.transactions)]
        n = len(record.transactions)
        allowed = (n, n - 1) if record.killed else (n,)
        for k in allowed:
            if k >= 0 and states[k] == held:
                return k
        record.problems.append(
            f"run {record.number}: the --output-state file holds neither the state of the last "
            f"printed transaction ({n}) nor{' of the one before' if record.killed else ''}"
        )
        return max(0, n - 1)
