from collections.abc import AsyncGenerator
from datetime import timedelta
from logging import Logger
from typing import Any

import pytest
from engine_fixtures.harness import T0, EngineClock, Harness, binding, checkpoints, detached_task, docs
from estuary_cdk.capture._engine.incremental import binding_incremental_task
from estuary_cdk.capture.common import (
    AssociatedDocument,
    BaseDocument,
    LogCursor,
    ResourceState,
    Triggers,
)


class Item(BaseDocument):
    id: int


def changes_from(batches: list[list[Any]]) -> Any:
    """A FetchChangesFn replaying one batch per invocation, recording the cursors it got."""
    calls: list[Any] = []

    async def fetch(log: Logger, cursor: LogCursor) -> AsyncGenerator[Any, None]:
        calls.append(cursor)
        if len(calls) <= len(batches):
            for item in batches[len(calls) - 1]:
                yield item

    fetch.calls = calls  # type: ignore[attr-defined]
    return fetch


async def test_documents_then_cursor_are_checkpointed_together(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = EngineClock(start=T0 + timedelta(hours=1), max_waits=3)
    fetch = changes_from(
        [[Item(id=1), {"id": 2}, T0 + timedelta(minutes=1)], [Item(id=3), T0 + timedelta(minutes=2)]]
    )
    h = Harness(clock=clock)
    state = ResourceState.Incremental(cursor=T0)
    await h.run(lambda t: binding_incremental_task(binding(), 0, fetch, state, task=t))

    assert h.raw_lines()[:3] == [
        b'{"captured":{"binding":0,"doc":{"id":1}}}',
        b'{"captured":{"binding":0,"doc":{"id":2}}}',
        b'{"checkpoint":{"state":{"updated":{"bindingStateV1":{"items":{"inc":{"cursor":"2025-01-01T00:01:00Z"}}}},"mergePatch":true}}}',
    ]
    lines = h.lines()
    assert docs(lines) == [{"id": 1}, {"id": 2}, {"id": 3}]
    assert checkpoints(lines) == [
        {"bindingStateV1": {"items": {"inc": {"cursor": "2025-01-01T00:01:00Z"}}}},
        {"bindingStateV1": {"items": {"inc": {"cursor": "2025-01-01T00:02:00Z"}}}},
    ]
    # Each invocation gets the last checkpointed cursor.
    assert fetch.calls[:3] == [T0, T0 + timedelta(minutes=1), T0 + timedelta(minutes=2)]
    assert state.cursor == T0 + timedelta(minutes=2)
    assert clock.waits  # it idled once nothing more came


async def test_interval_paces_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    interval = timedelta(minutes=5)
    now = T0 + timedelta(minutes=3)
    clock = EngineClock(start=now, max_waits=4)
    # A cursor 3 minutes behind "now" with a 5 minute interval: first poll waits the 2 missing
    # minutes; after a checkpoint at a lagging cursor it waits the remaining lag; empty polls
    # wait a full interval.
    fetch = changes_from([[{"id": 1}, T0 + timedelta(minutes=4)], [], []])
    h = Harness(clock=clock)
    state = ResourceState.Incremental(cursor=T0)
    await h.run(lambda t: binding_incremental_task(binding(interval=interval), 0, fetch, state, task=t))
    assert clock.waits[:4] == [timedelta(minutes=2), timedelta(minutes=4), interval, interval]


async def test_int_cursors_are_polled_again_immediately(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = EngineClock(max_waits=3)
    fetch = changes_from([[{"id": 1}, 5], [{"id": 2}, 9], []])
    h = Harness(clock=clock)
    await h.run(
        lambda t: binding_incremental_task(
            binding(interval=timedelta(seconds=30)), 0, fetch, ResourceState.Incremental(cursor=0), task=t
        )
    )
    assert clock.waits[:3] == [timedelta(), timedelta(), timedelta(), timedelta(seconds=30)][:3]
    assert fetch.calls[:3] == [0, 5, 9]
    assert checkpoints(h.lines()) == [
        {"bindingStateV1": {"items": {"inc": {"cursor": 5}}}},
        {"bindingStateV1": {"items": {"inc": {"cursor": 9}}}},
    ]


@pytest.mark.parametrize(
    "start, bad, message",
    [
        (5, 5, "not greater than"),
        (5, 4, "not greater than"),
        (T0, T0, "not greater than"),
        (5, T0, "different type"),
        (T0, 7, "different type"),
        (("a",), 7, "different type"),
    ],
)
async def test_cursor_contract_violations_fail_the_task(
    monkeypatch: pytest.MonkeyPatch, start: Any, bad: Any, message: str
) -> None:
    clock = EngineClock()
    fetch = changes_from([[{"id": 1}, bad]])
    h = Harness(clock=clock)
    with pytest.raises(RuntimeError, match=message):
        await binding_incremental_task(
            binding(), 0, fetch, ResourceState.Incremental(cursor=start), task=detached_task(h)
        )
    # Nothing was committed: the documents stay pending in the failed task.
    assert h.lines() == []


async def test_tuple_cursors_are_not_order_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = EngineClock(max_waits=1)
    fetch = changes_from([[{"id": 1}, ("b",), ("a",)]])
    h = Harness(clock=clock)
    await h.run(
        lambda t: binding_incremental_task(
            binding(), 0, fetch, ResourceState.Incremental(cursor=("c",)), task=t
        )
    )
    assert checkpoints(h.lines())[-1] == {"bindingStateV1": {"items": {"inc": {"cursor": ["a"]}}}}


async def test_documents_without_final_cursor_fail(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = EngineClock()
    fetch = changes_from([[{"id": 1}, 3, {"id": 2}]])
    h = Harness(clock=clock)
    with pytest.raises(RuntimeError, match="without a final LogCursor"):
        await binding_incremental_task(
            binding(), 0, fetch, ResourceState.Incremental(cursor=1), task=detached_task(h)
        )


async def test_backfill_trigger_requests_backfill_and_stops(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = EngineClock()
    fetch = changes_from([[{"id": 1}, 2, Triggers.BACKFILL, {"id": "never"}]])
    h = Harness(clock=clock)
    await h.run(
        lambda t: binding_incremental_task(binding(), 0, fetch, ResourceState.Incremental(cursor=1), task=t)
    )
    assert h.stopping.event.is_set()
    lines = h.lines()
    assert checkpoints(lines) == [
        {"bindingStateV1": {"items": {"inc": {"cursor": 2}}}},
        {"backfillRequests": {"items": True}},
    ]
    assert docs(lines) == [{"id": 1}]


async def test_associated_documents_go_to_their_binding(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = EngineClock(max_waits=1)
    fetch = changes_from([[{"id": 1}, AssociatedDocument(doc=Item(id=10), binding=3), 2]])
    h = Harness(clock=clock)
    await h.run(
        lambda t: binding_incremental_task(binding(), 0, fetch, ResourceState.Incremental(cursor=1), task=t)
    )
    assert h.raw_lines()[:2] == [
        b'{"captured":{"binding":0,"doc":{"id":1}}}',
        b'{"captured":{"binding":3,"doc":{"id":10}}}',
    ]


async def test_subtask_checkpoints_nest_under_subtask_id(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = EngineClock(max_waits=1)
    fetch = changes_from([[{"id": 1}, 8]])
    h = Harness(clock=clock)
    await h.run(
        lambda t: binding_incremental_task(
            binding(), 0, fetch, ResourceState.Incremental(cursor=1), task=t, subtask_id="realtime"
        )
    )
    assert checkpoints(h.lines()) == [{"bindingStateV1": {"items": {"inc": {"realtime": {"cursor": 8}}}}}]


async def test_stop_while_idle_returns(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = EngineClock()
    fetch = changes_from([])
    h = Harness(clock=clock)
    h.stopping.event.set()
    await h.run(
        lambda t: binding_incremental_task(binding(), 0, fetch, ResourceState.Incremental(cursor=1), task=t)
    )
    assert fetch.calls == []
    assert h.lines() == []


async def test_generator_is_closed_on_early_return(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = EngineClock()
    closed: list[bool] = []

    async def fetch(log: Logger, cursor: LogCursor) -> AsyncGenerator[Any, None]:
        try:
            yield Triggers.BACKFILL
            yield 99
        finally:
            closed.append(True)

    h = Harness(clock=clock)
    await h.run(
        lambda t: binding_incremental_task(binding(), 0, fetch, ResourceState.Incremental(cursor=1), task=t)
    )
    assert closed == [True]


def _polls(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str]]:
    return [(r.levelname, r.getMessage()) for r in caplog.records if r.getMessage().startswith("next poll")]


async def test_waits_for_the_next_poll_are_announced_with_when_and_why(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("DEBUG", logger="flow.test")
    interval = timedelta(minutes=5)
    # A session starting 6 s after the last checkpointed cursor (e.g. preview's second session):
    # the first poll waits out the rest of the interval, which used to be silent.
    clock = EngineClock(start=T0 + timedelta(seconds=6), max_waits=3)
    fetch = changes_from([[{"id": 1}, T0 + timedelta(minutes=4)], []])
    h = Harness(clock=clock)
    state = ResourceState.Incremental(cursor=T0)
    await h.run(lambda t: binding_incremental_task(binding(interval=interval), 0, fetch, state, task=t))
    assert _polls(caplog)[:3] == [
        ("INFO", "next poll of items in 4m54s (interval PT5M; the cursor is 6s old)"),
        ("INFO", "next poll of items in 4m (interval PT5M; the cursor is 1m old)"),
        ("INFO", "next poll of items in 5m (interval PT5M; the last poll found nothing new)"),
    ]
    first = next(r for r in caplog.records if r.getMessage().startswith("next poll"))
    assert first.args["next_poll_at"] == T0 + timedelta(minutes=5)  # type: ignore[call-overload,index]
    assert first.args["sleep_for"] == timedelta(minutes=4, seconds=54)  # type: ignore[call-overload,index]


async def test_short_waits_are_announced_at_debug_only(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG", logger="flow.test")
    clock = EngineClock(max_waits=20)
    h = Harness(clock=clock)
    await h.run(
        lambda t: binding_incremental_task(
            binding(interval=timedelta(seconds=0.2)),
            0,
            changes_from([]),
            ResourceState.Incremental(cursor=1),
            task=t,
        )
    )
    polls = _polls(caplog)
    assert len(polls) == 20
    assert set(polls) == {
        ("DEBUG", "next poll of items in 0.2s (interval PT0.2S; the last poll found nothing new)")
    }
