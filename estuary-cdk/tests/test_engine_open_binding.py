import asyncio
from collections.abc import AsyncGenerator
from logging import Logger
from typing import Any

import pytest
from engine_fixtures.harness import T0, EngineClock, Harness, binding, checkpoints, docs
from estuary_cdk.capture.common import (
    LogCursor,
    PageCursor,
    ResourceState,
    Task,
    open_binding,
)


async def test_backfill_and_incremental_run_concurrently(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = EngineClock(max_waits=20)
    incremental_ran = asyncio.Event()

    async def fetch_changes(log: Logger, cursor: LogCursor) -> AsyncGenerator[Any, None]:
        if cursor == 0:
            yield {"id": "change"}
            yield 1
            incremental_ran.set()

    async def fetch_page(log: Logger, page: PageCursor, cutoff: LogCursor) -> AsyncGenerator[Any, None]:
        # The backfill cannot finish unless the incremental task makes progress meanwhile.
        await asyncio.wait_for(incremental_ran.wait(), 2)
        yield {"id": "backfilled"}

    h = Harness(clock=clock)
    state = ResourceState(
        inc=ResourceState.Incremental(cursor=0), backfill=ResourceState.Backfill(cutoff=0, next_page=None)
    )
    await h.run(lambda t: _open(t, state, fetch_changes=fetch_changes, fetch_page=fetch_page))
    assert sorted(d["id"] for d in docs(h.lines())) == ["backfilled", "change"]
    assert h.status.bindings == 1
    assert h.status.events == [("inc", 0), ("dec", 0)]


async def _open(task: Task, state: ResourceState, b: Any = None, **fns: Any) -> None:
    open_binding(b or binding(), 0, state, task, **fns)


async def test_no_backfill_task_without_backfill_state(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = EngineClock(max_waits=1)
    called: list[Any] = []

    async def fetch_page(log: Logger, page: PageCursor, cutoff: LogCursor) -> AsyncGenerator[Any, None]:
        called.append(page)
        yield {"id": 1}

    async def fetch_changes(log: Logger, cursor: LogCursor) -> AsyncGenerator[Any, None]:
        return
        yield

    h = Harness(clock=clock)
    state = ResourceState(inc=ResourceState.Incremental(cursor=0))
    await h.run(lambda t: _open(t, state, fetch_changes=fetch_changes, fetch_page=fetch_page))
    assert called == []
    assert h.status.events == []


async def test_subtasks_run_under_their_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = EngineClock(max_waits=4)

    def changes(tag: str) -> Any:
        async def fetch(log: Logger, cursor: LogCursor) -> AsyncGenerator[Any, None]:
            if cursor == 0:
                yield {"id": tag}
                yield 1

        return fetch

    def pages(tag: str) -> Any:
        async def fetch(log: Logger, page: PageCursor, cutoff: LogCursor) -> AsyncGenerator[Any, None]:
            yield {"id": f"bf-{tag}"}

        return fetch

    h = Harness(clock=clock)
    state = ResourceState(
        inc={"a": ResourceState.Incremental(cursor=0), "b": ResourceState.Incremental(cursor=0)},
        backfill={"a": ResourceState.Backfill(cutoff=0), "b": None},
    )
    await h.run(
        lambda t: _open(
            t,
            state,
            fetch_changes={"a": changes("a"), "b": changes("b")},
            fetch_page={"a": pages("a"), "b": pages("b")},
        )
    )
    assert sorted(d["id"] for d in docs(h.lines())) == ["a", "b", "bf-a"]  # b's backfill was done
    cps = checkpoints(h.lines())
    assert {"bindingStateV1": {"items": {"inc": {"a": {"cursor": 1}}}}} in cps
    assert {"bindingStateV1": {"items": {"inc": {"b": {"cursor": 1}}}}} in cps
    assert {"bindingStateV1": {"items": {"backfill": {"a": None}}}} in cps


async def test_failing_child_is_named_after_binding_and_subtask(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = EngineClock()

    async def boom(log: Logger, cursor: LogCursor) -> AsyncGenerator[Any, None]:
        raise ValueError("api down")
        yield

    h = Harness(clock=clock)
    state = ResourceState(inc={"realtime": ResourceState.Incremental(cursor=T0)})
    await h.run(lambda t: _open(t, state, fetch_changes={"realtime": boom}))
    assert h.stopping.first_error_task == "capture.items.incremental.realtime"
    assert str(h.stopping.first_error) == "api down"
    assert h.stopping.event.is_set()


def test_mismatched_state_shapes_are_rejected() -> None:
    h = Harness()

    async def fn(*args: Any) -> AsyncGenerator[Any, None]:
        yield

    with pytest.raises(AssertionError):
        open_binding(binding(), 0, ResourceState(), _StubTask(h), fetch_changes=fn)
    with pytest.raises(AssertionError, match="subtask 'b'"):
        open_binding(
            binding(),
            0,
            ResourceState(inc={"a": ResourceState.Incremental(cursor=1)}),
            _StubTask(h),
            fetch_changes={"a": fn, "b": fn},
        )
    with pytest.raises(AssertionError, match="compound collection key"):
        open_binding(
            binding(key=["/_meta/row_id"]), 0, ResourceState(), _StubTask(h), fetch_snapshot={"a": fn}
        )
    with pytest.raises(AssertionError, match="/_meta/store"):
        open_binding(
            binding(key=["/_meta/row_id", "/_meta/store"]),
            0,
            ResourceState(),
            _StubTask(h),
            fetch_snapshot=fn,
        )


class _StubTask:
    """Only what open_binding touches before spawning."""

    def __init__(self, h: Harness) -> None:
        self.connector_status = h.status
        self.log = h.log
        self.spawned: list[str] = []

    def spawn_child(self, name: str, child: Any) -> None:
        self.spawned.append(name)


def test_child_names() -> None:
    h = Harness()
    stub = _StubTask(h)

    async def fn(*args: Any) -> AsyncGenerator[Any, None]:
        yield

    state = ResourceState(
        inc=ResourceState.Incremental(cursor=1),
        backfill={"x": ResourceState.Backfill(cutoff=1), "y": ResourceState.Backfill(cutoff=1)},
    )
    open_binding(binding(), 0, state, stub, fetch_changes=fn, fetch_page={"x": fn, "y": fn})  # type: ignore[arg-type]
    tombs = {"s1": {"_meta": {"store": "s1"}}, "s2": {"_meta": {"store": "s2"}}}
    open_binding(
        binding("snap", key=["/_meta/row_id", "/_meta/store"]),
        1,
        ResourceState(),
        stub,  # type: ignore[arg-type]
        fetch_snapshot={"s1": fn, "s2": fn},
        tombstone=tombs,
    )
    assert stub.spawned == [
        "items.incremental",
        "items.backfill.x",
        "items.backfill.y",
        "snap.snapshot.s1",
        "snap.snapshot.s2",
    ]
    assert h.status.bindings == 2


async def test_snapshot_subtasks_emit_their_own_tombstones(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = EngineClock(max_waits=4)  # two passes of each subtask

    def rows(store: str, counts: list[int]) -> Any:
        calls = [0]

        async def fetch(log: Logger) -> AsyncGenerator[Any, None]:
            n = counts[min(calls[0], len(counts) - 1)]
            calls[0] += 1
            for i in range(n):
                yield {"v": i, "_meta": {"store": store}}

        return fetch

    tombs = {"s1": {"_meta": {"store": "s1"}}, "s2": {"_meta": {"store": "s2"}}}
    h = Harness(clock=clock)
    b = binding("snap", key=["/_meta/row_id", "/_meta/store"])
    await h.run(
        lambda t: _open(
            t,
            ResourceState(),
            b,
            fetch_snapshot={"s1": rows("s1", [2, 1]), "s2": rows("s2", [1])},
            tombstone=tombs,
        )
    )
    deletions = [d for d in docs(h.lines()) if d["_meta"]["op"] == "d"]
    assert deletions == [{"_meta": {"store": "s1", "op": "d", "row_id": 1}}]
    # Each subtask numbers its own rows from 0.
    firsts = [d for d in docs(h.lines()) if d["_meta"]["op"] == "c"]
    assert sorted((d["_meta"]["store"], d["_meta"]["row_id"]) for d in firsts) == [
        ("s1", 0),
        ("s1", 1),
        ("s2", 0),
    ]
