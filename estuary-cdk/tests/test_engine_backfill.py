from collections.abc import AsyncGenerator
from datetime import timedelta
from logging import Logger
from typing import Any

import pytest
from engine_fixtures.harness import T0, EngineClock, Harness, binding, checkpoints, detached_task, docs
from estuary_cdk.capture._engine.backfill import binding_backfill_task, looks_like_page_size
from estuary_cdk.capture.common import (
    AssociatedDocument,
    BaseDocument,
    LogCursor,
    PageCursor,
    ResourceConfigWithSchedule,
    ResourceState,
    make_cursor_dict,
)


class Item(BaseDocument):
    id: int


def pages_from(batches: list[list[Any]]) -> Any:
    """A FetchPageFn replaying one batch per invocation, recording (page, cutoff) arguments."""
    calls: list[tuple[Any, Any]] = []

    async def fetch(log: Logger, page: PageCursor, cutoff: LogCursor) -> AsyncGenerator[Any, None]:
        calls.append((page, cutoff))
        if len(calls) <= len(batches):
            for item in batches[len(calls) - 1]:
                yield item

    fetch.calls = calls  # type: ignore[attr-defined]
    return fetch


async def run_backfill(
    fetch: Any, state: ResourceState.Backfill, h: Harness | None = None, **kwargs: Any
) -> Harness:
    h = h or Harness()
    b = kwargs.pop("binding", binding())
    ci = kwargs.pop("is_connector_initiated", False)
    last_init = kwargs.pop("last_initialized", None)
    await h.run(lambda t: binding_backfill_task(b, 0, fetch, state, ci, last_init, task=t, **kwargs))
    return h


async def test_pages_checkpoint_then_completion_nulls_backfill() -> None:
    fetch = pages_from([[Item(id=1), {"id": 2}, "p2"], [{"id": 3}, 7], [{"id": 4}]])
    h = await run_backfill(fetch, ResourceState.Backfill(cutoff=T0, next_page=None))
    assert h.raw_lines() == [
        b'{"captured":{"binding":0,"doc":{"id":1}}}',
        b'{"captured":{"binding":0,"doc":{"id":2}}}',
        b'{"checkpoint":{"state":{"updated":{"bindingStateV1":{"items":{"backfill":{"cutoff":"2025-01-01T00:00:00Z","next_page":"p2"}}}},"mergePatch":true}}}',
        b'{"captured":{"binding":0,"doc":{"id":3}}}',
        b'{"checkpoint":{"state":{"updated":{"bindingStateV1":{"items":{"backfill":{"cutoff":"2025-01-01T00:00:00Z","next_page":7}}}},"mergePatch":true}}}',
        b'{"captured":{"binding":0,"doc":{"id":4}}}',
        b'{"checkpoint":{"state":{"updated":{"bindingStateV1":{"items":{"backfill":null}}},"mergePatch":true}}}',
    ]
    assert fetch.calls == [(None, T0), ("p2", T0), (7, T0)]
    assert h.status.events == [("inc", 0), ("dec", 0)]


async def test_invocation_with_nothing_completes_the_backfill() -> None:
    fetch = pages_from([["p1"], []])
    h = await run_backfill(fetch, ResourceState.Backfill(cutoff=5, next_page="p0"))
    assert checkpoints(h.lines()) == [
        {"bindingStateV1": {"items": {"backfill": {"cutoff": 5, "next_page": "p1"}}}},
        {"bindingStateV1": {"items": {"backfill": None}}},
    ]
    assert fetch.calls == [("p0", 5), ("p1", 5)]


async def test_subtask_backfill_completion() -> None:
    fetch = pages_from([[{"id": 1}]])
    h = await run_backfill(fetch, ResourceState.Backfill(cutoff=T0), subtask_id="acct_1")
    assert checkpoints(h.lines()) == [{"bindingStateV1": {"items": {"backfill": {"acct_1": None}}}}]


async def test_dict_page_cursors_are_merge_patches() -> None:
    fetch = pages_from(
        [
            [{"id": 1}, make_cursor_dict({"b1": {"items": 10}, "b2": {"items": 20}})],
            [{"id": 2}, make_cursor_dict({"b1": None})],
            [make_cursor_dict({"b2": {"items": 25}})],
            [],
        ]
    )
    h = await run_backfill(fetch, ResourceState.Backfill(cutoff=T0), subtask_id="acct_1")
    assert checkpoints(h.lines()) == [
        {
            "bindingStateV1": {
                "items": {
                    "backfill": {
                        "acct_1": {
                            "cutoff": "2025-01-01T00:00:00Z",
                            "next_page": {"b1": {"items": 10}, "b2": {"items": 20}},
                        }
                    }
                }
            }
        },
        {
            "bindingStateV1": {
                "items": {
                    "backfill": {"acct_1": {"cutoff": "2025-01-01T00:00:00Z", "next_page": {"b1": None}}}
                }
            }
        },
        {
            "bindingStateV1": {
                "items": {
                    "backfill": {
                        "acct_1": {"cutoff": "2025-01-01T00:00:00Z", "next_page": {"b2": {"items": 25}}}
                    }
                }
            }
        },
        {"bindingStateV1": {"items": {"backfill": {"acct_1": None}}}},
    ]
    # The fetch function sees the merged cursor, never the marker.
    assert [page for page, _ in fetch.calls] == [
        None,
        {"b1": {"items": 10}, "b2": {"items": 20}},
        {"b2": {"items": 20}},
        {"b2": {"items": 25}},
    ]
    # Unmarked dicts are documents.
    assert docs(h.lines()) == [{"id": 1}, {"id": 2}]


async def test_dict_cursor_after_scalar_cursor_fails() -> None:
    fetch = pages_from([["p1", make_cursor_dict({"a": 1})]])
    h = Harness()
    with pytest.raises(RuntimeError, match="dict PageCursor after the non-dict"):
        await binding_backfill_task(
            binding(), 0, fetch, ResourceState.Backfill(cutoff=T0), False, None, task=detached_task(h)
        )


@pytest.mark.parametrize(
    "bad, message", [(None, "PageCursor None"), (1.5, "neither a document nor a PageCursor")]
)
async def test_invalid_page_cursors_fail(bad: Any, message: str) -> None:
    fetch = pages_from([[{"id": 1}, bad]])
    h = Harness()
    with pytest.raises(RuntimeError, match=message):
        await binding_backfill_task(
            binding(), 0, fetch, ResourceState.Backfill(cutoff=T0), False, None, task=detached_task(h)
        )
    # The failed backfill still released its status slot.
    assert h.status.backfilling == {}


async def test_stopping_leaves_backfill_resumable() -> None:
    h = Harness()

    async def fetch(log: Logger, page: PageCursor, cutoff: LogCursor) -> AsyncGenerator[Any, None]:
        yield {"id": page}
        yield (page or 0) + 1
        if page == 2:
            h.stopping.event.set()

    await run_backfill(fetch, ResourceState.Backfill(cutoff=T0), h)
    assert checkpoints(h.lines())[-1] == {
        "bindingStateV1": {"items": {"backfill": {"cutoff": "2025-01-01T00:00:00Z", "next_page": 3}}}
    }
    assert len(checkpoints(h.lines())) == 3


async def test_recurring_fetch_page_gets_connector_initiated_flag() -> None:
    seen: list[bool] = []

    async def fetch(
        log: Logger, page: PageCursor, cutoff: LogCursor, is_connector_initiated: bool
    ) -> AsyncGenerator[Any, None]:
        seen.append(is_connector_initiated)
        yield {"id": 1}

    await run_backfill(fetch, ResourceState.Backfill(cutoff=T0), is_connector_initiated=True)
    assert seen == [True]


async def test_beginning_backfill_is_an_observable_log(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO")
    await run_backfill(pages_from([[]]), ResourceState.Backfill(cutoff=T0))
    (record,) = [r for r in caplog.records if r.getMessage() == "beginning backfill"]
    assert record.observable is True  # type: ignore[attr-defined]
    assert record.catalog_task_name == "acmeCo/test"  # type: ignore[attr-defined]
    assert any(r.getMessage().startswith("completed backfill") for r in caplog.records)


async def test_scheduled_binding_stops_when_a_fire_was_missed(monkeypatch: pytest.MonkeyPatch) -> None:
    # Initialized at T0 with an hourly schedule; the backfill completes two hours later.
    clock = EngineClock(start=T0 + timedelta(hours=2))
    config = ResourceConfigWithSchedule(name="items", schedule="0 * * * *")
    h = await run_backfill(
        pages_from([[]]),
        ResourceState.Backfill(cutoff=T0),
        Harness(clock=clock),
        binding=binding(config=config),
        last_initialized=T0,
    )
    assert h.stopping.event.is_set()


async def test_scheduled_binding_stops_at_the_next_fire(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = EngineClock(start=T0 + timedelta(minutes=10))
    config = ResourceConfigWithSchedule(name="items", schedule="0 * * * *")
    h = await run_backfill(
        pages_from([[]]),
        ResourceState.Backfill(cutoff=T0),
        Harness(clock=clock),
        binding=binding(config=config),
        last_initialized=T0,
    )
    # It waited until the next hourly fire, then asked the capture to stop.
    assert clock.waits == [timedelta(minutes=50)]
    assert h.stopping.event.is_set()


def _completion(caplog: pytest.LogCaptureFixture) -> Any:
    (record,) = [r for r in caplog.records if r.getMessage().startswith("completed backfill")]
    return record


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]


async def test_completion_says_documents_and_pages_per_binding(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO")
    other = Item(id=9)
    fetch = pages_from([[Item(id=1), {"id": 2}, "p2"], [AssociatedDocument(other, 1), 7], [{"id": 4}]])
    await run_backfill(fetch, ResourceState.Backfill(cutoff=T0), binding=binding(name="issues"))
    record = _completion(caplog)
    assert record.levelname == "INFO"
    assert record.getMessage() == "completed backfill of issues: 4 documents in 3 pages"
    assert record.args == {"subtask_id": None, "documents": 4, "pages": 3, "resumed": False}
    assert _warnings(caplog) == []


async def test_completion_of_a_resumed_subtask(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO")
    await run_backfill(
        pages_from([[{"id": 1}]]), ResourceState.Backfill(cutoff=T0, next_page="p9"), subtask_id="a1"
    )
    assert _completion(caplog).getMessage() == (
        "completed backfill of items (subtask a1): 1 document in 1 page since it resumed"
    )


async def test_a_single_round_page_without_a_cursor_warns(caplog: pytest.LogCaptureFixture) -> None:
    # The classic mistake: fetch_page yields one page of documents and forgets its next cursor.
    fetch = pages_from([[{"id": i} for i in range(100)], [{"id": 100}]])
    h = await run_backfill(fetch, ResourceState.Backfill(cutoff=T0))
    assert len(fetch.calls) == 1 and len(docs(h.lines())) == 100
    (warning,) = _warnings(caplog)
    assert "items ended after its first page, of 100 documents" in warning
    assert "fetch_page must yield the next page cursor after the page's documents" in warning


@pytest.mark.parametrize(
    "batches, state",
    [
        ([[{"id": i} for i in range(37)]], ResourceState.Backfill(cutoff=T0)),  # the data ended
        ([[{"id": i} for i in range(100)] + ["p2"], [{"id": 100}]], ResourceState.Backfill(cutoff=T0)),
        (
            [[{"id": i} for i in range(100)]],
            ResourceState.Backfill(cutoff=T0, next_page="p5"),
        ),  # the last page
        ([[]], ResourceState.Backfill(cutoff=T0)),
    ],
)
async def test_no_warning_when_the_backfill_paged_or_the_page_is_not_round(
    caplog: pytest.LogCaptureFixture, batches: list[list[Any]], state: ResourceState.Backfill
) -> None:
    await run_backfill(pages_from(batches), state)
    assert _warnings(caplog) == []


@pytest.mark.parametrize("n", [10, 20, 25, 50, 100, 200, 250, 500, 1000, 2500, 5000, 10000, 300, 700, 1200])
def test_round_page_sizes(n: int) -> None:
    assert looks_like_page_size(n)


@pytest.mark.parametrize("n", [0, 1, 5, 9, 11, 30, 37, 99, 101, 150, 643, 1001, 2501])
def test_sizes_that_are_not_page_sizes(n: int) -> None:
    assert not looks_like_page_size(n)
