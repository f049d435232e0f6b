import json
from datetime import timedelta
from typing import Any

import pytest
from engine_fixtures.harness import T0, EngineClock, Harness, checkpoints
from estuary_cdk.capture import request
from estuary_cdk.capture.common import (
    BaseDocument,
    ConnectorState,
    Resource,
    ResourceConfig,
    ResourceConfigWithSchedule,
    ResourceState,
    SnapshotResource,
    Task,
    open,
    resolve_bindings,
)

CS = ConnectorState[ResourceState]
NOW = T0 + timedelta(days=1, hours=3, minutes=30)
NOW_JSON = "2025-01-02T03:30:00Z"


class Recorder:
    """A Resource.open callback that records what it was given (and starts nothing)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int, Any]] = []

    def __call__(self, binding: Any, index: int, state: Any, task: Task, all_bindings: Any) -> None:
        self.calls.append((binding.stateKey, index, state))


def resource(
    name: str, opener: Recorder, config: ResourceConfig | None = None, **kwargs: Any
) -> Resource[Any, Any, Any]:
    return Resource(
        name=name,
        key=["/id"],
        model=BaseDocument,
        open=opener,
        initial_state=ResourceState(
            inc=ResourceState.Incremental(cursor=T0),
            backfill=ResourceState.Backfill(cutoff=T0, next_page=None),
        ),
        initial_config=config or ResourceConfig(name=name),
        schema_inference=True,
        **kwargs,
    )


def open_request(bindings: list[dict[str, Any]], state: dict[str, Any]) -> Any:
    return request.Open[dict[str, Any], ResourceConfigWithSchedule, CS].model_validate(
        {
            "capture": {"name": "acmeCo/test", "config": {}, "intervalSeconds": 0, "bindings": bindings},
            "version": "v1",
            "range": {},
            "state": state,
        }
    )


def wire_binding(name: str, state_key: str | None = None, **config: Any) -> dict[str, Any]:
    return {
        "collection": {"name": f"acmeCo/{name}", "key": ["/id"], "writeSchema": {}},
        "resourceConfig": {"name": name, **config},
        "resourcePath": [name],
        "stateKey": state_key or name,
    }


async def run_open(monkeypatch: pytest.MonkeyPatch, req: Any, resources: list[Any]) -> tuple[Harness, Any]:
    clock = EngineClock(start=NOW, max_waits=0)
    opened, runner = open(req, resolve_bindings(req.capture.bindings, resources))
    h = Harness(clock=clock)
    await h.run(runner)
    return h, opened


async def test_new_bindings_are_initialized_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    rec = Recorder()
    req = open_request([wire_binding("b"), wire_binding("a")], {})
    h, opened = await run_open(monkeypatch, req, [resource("a", rec), resource("b", rec)])
    assert opened.model_dump() == {"explicitAcknowledgements": False}
    initial = {
        "inc": {"cursor": "2025-01-01T00:00:00Z"},
        "backfill": {"cutoff": "2025-01-01T00:00:00Z", "next_page": None},
        "last_initialized": NOW_JSON,
    }
    assert checkpoints(h.lines()) == [{"bindingStateV1": {"b": initial}}, {"bindingStateV1": {"a": initial}}]
    assert [(k, i) for k, i, _ in rec.calls] == [("b", 0), ("a", 1)]
    # Each binding gets its own copy of the initial state.
    assert rec.calls[0][2] is not rec.calls[1][2]
    assert rec.calls[0][2].last_initialized == NOW


async def test_existing_state_resumes_without_reinitializing(monkeypatch: pytest.MonkeyPatch) -> None:
    rec = Recorder()
    state = {"bindingStateV1": {"a": {"inc": {"cursor": 7}, "last_initialized": "2025-01-01T00:00:00Z"}}}
    h, _ = await run_open(monkeypatch, open_request([wire_binding("a")], state), [resource("a", rec)])
    assert h.lines() == []
    (_, _, got) = rec.calls[0]
    assert got.inc.cursor == 7 and got.backfill is None


async def test_missing_last_initialized_is_filled(monkeypatch: pytest.MonkeyPatch) -> None:
    rec = Recorder()
    state = {"bindingStateV1": {"a": {"inc": {"cursor": 7}}}}
    h, _ = await run_open(monkeypatch, open_request([wire_binding("a")], state), [resource("a", rec)])
    assert checkpoints(h.lines()) == [
        {"bindingStateV1": {"a": {"inc": {"cursor": 7}, "last_initialized": NOW_JSON}}}
    ]


async def test_backfill_requests_are_cleared_and_bindings_reinitialized(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rec = Recorder()
    state = {
        "bindingStateV1": {"a": {"inc": {"cursor": 7}}, "gone": {"inc": {"cursor": 1}}},
        "backfillRequests": {"a": True, "gone": True},
    }
    h, _ = await run_open(monkeypatch, open_request([wire_binding("a")], state), [resource("a", rec)])
    assert checkpoints(h.lines()) == [
        {"bindingStateV1": {"a": None}, "backfillRequests": {"a": None}},
        {"bindingStateV1": {"gone": None}, "backfillRequests": {"gone": None}},
        {
            "bindingStateV1": {
                "a": {
                    "inc": {"cursor": "2025-01-01T00:00:00Z"},
                    "backfill": {"cutoff": "2025-01-01T00:00:00Z", "next_page": None},
                    "last_initialized": NOW_JSON,
                }
            }
        },
    ]


async def test_explicit_acknowledgements_if_any_resource_requires_them() -> None:
    rec = Recorder()
    req = open_request([wire_binding("a"), wire_binding("b")], {})
    resources = [resource("a", rec), resource("b", rec, requires_explicit_acks=True)]
    opened, _ = open(req, resolve_bindings(req.capture.bindings, resources))
    assert json.loads(opened.model_dump_json()) == {"explicitAcknowledgements": True}


async def test_missed_schedule_rebackfills_from_oldest_incremental_cursor(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rec = Recorder()
    config = ResourceConfigWithSchedule(name="a", schedule="0 3 * * *")
    state = {
        "bindingStateV1": {
            "a": {
                "inc": {
                    "fast": {"cursor": "2025-01-02T03:00:00Z"},
                    "slow": {"cursor": "2025-01-02T01:00:00Z"},
                },
                "last_initialized": "2025-01-01T00:00:00Z",
            }
        }
    }
    req = open_request([wire_binding("a", schedule="0 3 * * *")], state)
    h, _ = await run_open(monkeypatch, req, [resource("a", rec, config=config)])
    (cp,) = checkpoints(h.lines())
    assert cp == {
        "bindingStateV1": {
            "a": {
                "inc": {
                    "fast": {"cursor": "2025-01-02T03:00:00Z"},
                    "slow": {"cursor": "2025-01-02T01:00:00Z"},
                },
                "backfill": {"cutoff": "2025-01-02T01:00:00Z", "next_page": None},
                "last_initialized": NOW_JSON,
                "is_connector_initiated": True,
            }
        }
    }
    assert rec.calls[0][2].is_connector_initiated is True


async def test_missed_schedule_without_datetime_cursor_resets_state(monkeypatch: pytest.MonkeyPatch) -> None:
    rec = Recorder()
    config = ResourceConfigWithSchedule(name="a", schedule="0 3 * * *")
    state = {"bindingStateV1": {"a": {"inc": {"cursor": 42}, "last_initialized": "2025-01-01T00:00:00Z"}}}
    req = open_request([wire_binding("a", schedule="0 3 * * *")], state)
    h, _ = await run_open(monkeypatch, req, [resource("a", rec, config=config)])
    assert checkpoints(h.lines()) == [
        {"bindingStateV1": {"a": None}},
        {
            "bindingStateV1": {
                "a": {
                    "inc": {"cursor": "2025-01-01T00:00:00Z"},
                    "backfill": {"cutoff": "2025-01-01T00:00:00Z", "next_page": None},
                    "last_initialized": NOW_JSON,
                    "is_connector_initiated": True,
                }
            }
        },
    ]


async def test_future_schedule_stops_the_capture_at_its_fire(monkeypatch: pytest.MonkeyPatch) -> None:
    rec = Recorder()
    config = ResourceConfigWithSchedule(name="a", schedule="0 4 * * *")
    state = {"bindingStateV1": {"a": {"inc": {"cursor": 1}, "last_initialized": "2025-01-02T03:00:00Z"}}}
    req = open_request([wire_binding("a", schedule="0 4 * * *")], state)
    clock = EngineClock(start=NOW)
    _, runner = open(req, resolve_bindings(req.capture.bindings, [resource("a", rec, config=config)]))
    h = Harness(clock=clock)
    await h.run(runner)
    assert h.lines() == []  # nothing was re-initialized...
    assert clock.waits == [timedelta(minutes=30)]  # ...but a stop was scheduled for 04:00
    assert h.stopping.event.is_set()


async def test_async_open_callbacks_are_awaited(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[int] = []

    async def async_open(binding: Any, index: int, state: Any, task: Task, all_bindings: Any) -> None:
        seen.append(index)

    req = open_request([wire_binding("snap")], {})
    req.capture.bindings[0].collection.key = ["/_meta/row_id"]
    snap = SnapshotResource(name="snap", open=async_open, initial_config=ResourceConfig(name="snap"))
    h, _ = await run_open(monkeypatch, req, [snap])
    assert seen == [0]
    assert checkpoints(h.lines()) == [{"bindingStateV1": {"snap": {"last_initialized": NOW_JSON}}}]


async def test_state_is_keyed_by_state_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bumped backfill counter gives the binding a new stateKey (`items.v1`): it starts over,
    and the old key's state is left alone."""
    rec = Recorder()
    state = {"bindingStateV1": {"items": {"inc": {"cursor": 9}, "last_initialized": "2025-01-01T00:00:00Z"}}}
    req = open_request([wire_binding("items", state_key="items.v1")], state)
    h, _ = await run_open(monkeypatch, req, [resource("items", rec)])
    (cp,) = checkpoints(h.lines())
    assert list(cp["bindingStateV1"]) == ["items.v1"]
    assert rec.calls[0][2].inc.cursor == T0


async def test_scheduled_rebackfill_runs_to_completion_and_schedules_the_next(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """End to end through open_binding: a missed daily fire re-backfills from the incremental
    cursor with `is_connector_initiated`, then the capture stops at the next fire."""
    from collections.abc import AsyncGenerator
    from logging import Logger

    from estuary_cdk.capture.common import LogCursor, PageCursor, open_binding

    seen: list[tuple[Any, Any, bool]] = []

    async def fetch_page(
        log: Logger, page: PageCursor, cutoff: LogCursor, is_connector_initiated: bool
    ) -> AsyncGenerator[Any, None]:
        seen.append((page, cutoff, is_connector_initiated))
        yield {"id": "refreshed"}

    def opener(binding: Any, index: int, state: Any, task: Task, all_bindings: Any) -> None:
        open_binding(binding, index, state, task, fetch_page=fetch_page)

    config = ResourceConfigWithSchedule(name="a", schedule="0 3 * * *")
    res = resource("a", Recorder(), config=config)
    res.open = opener
    state = {
        "bindingStateV1": {
            "a": {"inc": {"cursor": "2025-01-02T02:00:00Z"}, "last_initialized": "2025-01-01T00:00:00Z"}
        }
    }
    req = open_request([wire_binding("a", schedule="0 3 * * *")], state)
    clock = EngineClock(start=NOW)
    _, runner = open(req, resolve_bindings(req.capture.bindings, [res]))
    h = Harness(clock=clock)
    await h.run(runner)

    assert seen == [(None, T0 + timedelta(days=1, hours=2), True)]
    cps = checkpoints(h.lines())
    assert cps[-1] == {"bindingStateV1": {"a": {"backfill": None}}}
    # Stopped at the next 03:00 fire, 23h30m after NOW.
    assert clock.waits == [timedelta(hours=23, minutes=30)]
    assert h.stopping.event.is_set()
