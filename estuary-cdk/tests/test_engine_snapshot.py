import logging
from collections.abc import AsyncGenerator
from datetime import timedelta
from logging import Logger
from typing import Any

import pytest
import xxhash
from engine_fixtures.harness import T0, EngineClock, Harness, binding, checkpoints, docs
from estuary_cdk.capture._engine.snapshot import binding_snapshot_task
from estuary_cdk.capture._engine.tombstones import (
    TombstoneError,
    check_tombstone,
    tombstone_discriminator_values,
)
from estuary_cdk.capture.common import (
    BaseDocument,
    ResourceState,
)
from pydantic import Field

ROW_KEY = ["/_meta/row_id"]


class Row(BaseDocument):
    name: str


def snapshots_from(passes: list[list[Any]]) -> Any:
    """A FetchSnapshotFn returning one list per pass (fresh copies each time)."""
    count = [0]

    async def fetch(log: Logger) -> AsyncGenerator[Any, None]:
        i = min(count[0], len(passes) - 1)
        count[0] += 1
        for doc in passes[i]:
            yield dict(doc) if isinstance(doc, dict) else doc.model_copy()

    return fetch


def split_passes(lines: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Group captured docs by the checkpoint that committed them."""
    out: list[list[dict[str, Any]]] = [[]]
    for line in lines:
        if "captured" in line:
            out[-1].append(line["captured"]["doc"])
        elif "checkpoint" in line:
            out.append([])
    return out[:-1]


async def run_snapshot(
    monkeypatch: pytest.MonkeyPatch, fetch: Any, passes: int, **kwargs: Any
) -> tuple[Harness, EngineClock]:
    clock = EngineClock(start=kwargs.pop("start", T0), max_waits=passes)
    h = Harness(clock=clock)
    b = kwargs.pop("binding", binding(key=ROW_KEY, interval=timedelta(minutes=10)))
    state = kwargs.pop("state", None)
    tombstone = kwargs.pop("tombstone", BaseDocument(_meta=BaseDocument.Meta(op="d")))
    await h.run(lambda t: binding_snapshot_task(b, 0, fetch, state, task=t, tombstone=tombstone, **kwargs))
    return h, clock


async def test_unchanged_snapshots_are_suppressed(monkeypatch: pytest.MonkeyPatch) -> None:
    fetch = snapshots_from([[Row(name="a"), {"name": "b"}]])
    h, clock = await run_snapshot(monkeypatch, fetch, passes=3)
    passes = split_passes(h.lines())
    assert passes == [
        [{"name": "a", "_meta": {"op": "c", "row_id": 0}}, {"name": "b", "_meta": {"op": "c", "row_id": 1}}],
        # Ops flip to "u", so the second pass differs once...
        [{"name": "a", "_meta": {"op": "u", "row_id": 0}}, {"name": "b", "_meta": {"op": "u", "row_id": 1}}],
        # ...and identical passes after that write nothing, not even a checkpoint.
    ]
    assert len(checkpoints(h.lines())) == 2
    # First pass runs at once (epoch state), later ones every interval (an unchanged pass keeps
    # the schedule in memory).
    assert clock.waits[1:4] == [timedelta(minutes=10)] * 3


async def test_an_unchanged_snapshot_writes_no_checkpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    # Today's runtime view: the capture goes quiet once the table stops changing, so
    # `flowctl preview --timeout` (and Flow) see an idle capture instead of a transaction per pass.
    fetch = snapshots_from([[{"name": "a"}]])
    h, clock = await run_snapshot(monkeypatch, fetch, passes=6)
    # The last line written is the second pass's checkpoint (its ops flipped to "u").
    assert list(h.lines()[-1]) == ["checkpoint"]
    assert checkpoints(h.lines())[-1]["bindingStateV1"]["items"]["snapshot"]["updated_at"] == (
        "2025-01-01T00:10:00Z"
    )
    assert len(checkpoints(h.lines())) == 2
    assert clock.waits[1:6] == [timedelta(minutes=10)] * 5


async def test_after_a_restart_an_unchanged_snapshot_still_writes_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fetch = snapshots_from([[{"name": "a"}, {"name": "b"}]])
    first, _ = await run_snapshot(monkeypatch, fetch, passes=4)
    stored = checkpoints(first.lines())[-1]["bindingStateV1"]["items"]["snapshot"]
    # The restart finds the state of the last change, long ago: one pass at once, then the interval.
    state = ResourceState.Snapshot.model_validate(stored)
    h, clock = await run_snapshot(monkeypatch, fetch, passes=3, state=state, start=T0 + timedelta(days=1))
    assert h.lines() == []
    assert clock.waits[:3] == [timedelta(), timedelta(minutes=10), timedelta(minutes=10)]


async def test_checkpoint_carries_count_digest_and_pass_start(monkeypatch: pytest.MonkeyPatch) -> None:
    fetch = snapshots_from([[{"name": "a"}, {"name": "b"}]])
    h, _ = await run_snapshot(monkeypatch, fetch, passes=1)
    raw = h.raw_lines()
    digest = xxhash.xxh3_128(b"".join(raw[:2])).hexdigest()
    assert checkpoints(h.lines()) == [
        {
            "bindingStateV1": {
                "items": {
                    "snapshot": {"updated_at": "2025-01-01T00:00:00Z", "last_count": 2, "last_digest": digest}
                }
            }
        }
    ]


async def test_vanished_rows_get_tombstones(monkeypatch: pytest.MonkeyPatch) -> None:
    fetch = snapshots_from([[{"name": "a"}, {"name": "b"}, {"name": "c"}], [{"name": "a"}]])
    h, _ = await run_snapshot(monkeypatch, fetch, passes=2)
    assert split_passes(h.lines())[1] == [
        {"name": "a", "_meta": {"op": "u", "row_id": 0}},
        {"_meta": {"op": "d", "row_id": 1}},
        {"_meta": {"op": "d", "row_id": 2}},
    ]
    assert checkpoints(h.lines())[1]["bindingStateV1"]["items"]["snapshot"]["last_count"] == 1


async def test_resumes_from_state_and_waits_for_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    fetch = snapshots_from([[{"name": "a"}]])
    state = ResourceState.Snapshot(updated_at=T0 - timedelta(minutes=4), last_count=3, last_digest="x")
    h, clock = await run_snapshot(monkeypatch, fetch, passes=1, state=state)
    assert clock.waits[0] == timedelta(minutes=6)
    # Rows 1 and 2 of the previous snapshot are gone.
    assert split_passes(h.lines())[0] == [
        {"name": "a", "_meta": {"op": "u", "row_id": 0}},
        {"_meta": {"op": "d", "row_id": 1}},
        {"_meta": {"op": "d", "row_id": 2}},
    ]
    assert (
        checkpoints(h.lines())[0]["bindingStateV1"]["items"]["snapshot"]["updated_at"]
        == "2025-01-01T00:06:00Z"
    )


async def test_existing_meta_fields_are_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    class StoreRow(BaseDocument):
        class Meta(BaseDocument.Meta):
            store: str = ""

        meta_: Meta = Field(default_factory=Meta, alias="_meta")  # type: ignore[assignment]
        name: str

    shared = StoreRow.Meta(store="s1")
    fetch = snapshots_from([[StoreRow(name="a", _meta=shared), {"name": "b", "_meta": {"store": "s1"}}]])
    h, _ = await run_snapshot(monkeypatch, fetch, passes=1)
    assert docs(h.lines()) == [
        {"_meta": {"store": "s1", "op": "c", "row_id": 0}, "name": "a"},
        {"name": "b", "_meta": {"store": "s1", "op": "c", "row_id": 1}},
    ]
    # The shared Meta instance was not mutated.
    assert "op" not in shared.model_fields_set


async def test_subtask_state_nests_under_subtask_id(monkeypatch: pytest.MonkeyPatch) -> None:
    fetch = snapshots_from([[{"name": "a", "_meta": {"store": "s1"}}]])
    tomb = {"_meta": {"store": "s1"}}
    h, _ = await run_snapshot(monkeypatch, fetch, passes=1, tombstone=tomb, subtask_id="s1")
    (cp,) = checkpoints(h.lines())
    assert list(cp["bindingStateV1"]["items"]["snapshot"]) == ["s1"]


async def test_stop_while_waiting_returns(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = EngineClock()
    h = Harness(clock=clock)
    h.stopping.event.set()
    await h.run(
        lambda t: binding_snapshot_task(
            binding(key=ROW_KEY), 0, snapshots_from([[{"a": 1}]]), None, task=t, tombstone=None
        )
    )
    assert h.lines() == []


def test_tombstone_must_cover_the_key() -> None:
    log = logging.getLogger("flow.test")
    check_tombstone(binding(key=ROW_KEY), BaseDocument(_meta=BaseDocument.Meta(op="d")), None, log)
    store_key = ["/_meta/store", "/_meta/row_id"]
    check_tombstone(binding(key=store_key), {"_meta": {"store": "s1"}}, None, log)
    with pytest.raises(AssertionError, match=r"binding 'items' \(acmeCo/items\).*missing \['/_meta/store'\]"):
        check_tombstone(binding(key=store_key), BaseDocument(_meta=BaseDocument.Meta(op="d")), None, log)


def test_subtask_tombstones_need_distinct_discriminators() -> None:
    key = ["/_meta/row_id", "/_meta/store"]
    ok = {"a": {"_meta": {"store": "a"}}, "b": {"_meta": {"store": "b"}}}
    assert tombstone_discriminator_values(ok, key) == {"a": ("a",), "b": ("b",)}
    with pytest.raises(TombstoneError, match="distinct"):
        tombstone_discriminator_values({"a": {"_meta": {"store": "x"}}, "b": {"_meta": {"store": "x"}}}, key)


def _polls(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str]]:
    return [(r.levelname, r.getMessage()) for r in caplog.records if r.getMessage().startswith("next poll")]


async def test_waits_between_passes_are_announced(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG", logger="flow.test")
    fetch = snapshots_from([[{"name": "a"}]])
    state = ResourceState.Snapshot(updated_at=T0 - timedelta(minutes=4), last_count=1, last_digest="x")
    await run_snapshot(
        monkeypatch,
        fetch,
        passes=2,
        state=state,
        binding=binding(name="languages", key=ROW_KEY, interval=timedelta(minutes=10)),
    )
    assert _polls(caplog)[:2] == [
        ("INFO", "next poll of languages in 6m (interval PT10M; the last checkpointed pass began 4m ago)"),
        ("INFO", "next poll of languages in 10m (interval PT10M)"),
    ]


async def test_short_snapshot_intervals_are_announced_at_debug(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG", logger="flow.test")
    fetch = snapshots_from([[{"name": "a"}]])
    b = binding(key=ROW_KEY, interval=timedelta(seconds=5))
    await run_snapshot(monkeypatch, fetch, passes=4, binding=b)
    assert set(_polls(caplog)) == {("DEBUG", "next poll of items in 5s (interval PT5S)")}
