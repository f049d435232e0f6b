"""The connector process end to end as flowctl runs it (tests/flow_session.py), against the fake
API in a thread: restarts, incremental capture, story-list tombstones and faults."""

import re
from collections import Counter
from typing import Any

import pytest
from estuary_cdk.testing import LocalServer, apply_preset, serve_app_in_thread, serve_proxy
from flow_session import Session, run_session
from flowctl.errors import ConnectorError
from source_hackernews.api import NULL_RECHECK_WINDOW
from source_hackernews.fake_api import FakeHackerNews, make_app

FAST = {name: "PT1S" for name in ("items", "users", "updates", "askstories", "jobstories", "topstories")}


def _items_state(session: Session) -> dict[str, Any]:
    return session.state.get("bindingStateV1", {}).get("items", {})


def _backfill_done(session: Session) -> bool:
    return "last_initialized" in _items_state(session) and "backfill" not in _items_state(session)


def _ids(session: Session, binding: str = "items") -> list[Any]:
    return [doc["id"] for name, doc in session.committed if name == binding]


def _expected(fake: FakeHackerNews, first: int, last: int) -> set[int]:
    return {n for n in range(first, last + 1) if fake.exists(n)}


async def test_restart_mid_backfill_captures_every_id_exactly_once(
    threaded_server: LocalServer, fake: FakeHackerNews
) -> None:
    config = {"base_url": threaded_server.url, "concurrency": 16}

    def mid_backfill(session: Session) -> bool:
        return bool(_items_state(session).get("backfill", {}).get("next_page"))

    first = await run_session(config, {}, mid_backfill, bindings=["items"], intervals={"items": "PT1H"})
    next_page = _items_state(first)["backfill"]["next_page"]
    assert _items_state(first)["backfill"] == {"cutoff": 2500, "next_page": next_page}
    assert next_page in (1001, 2001)  # pages of 1,000 ids; a transaction may hold more than one
    assert set(_ids(first)) == _expected(fake, 1, next_page - 1)

    second = await run_session(
        config, first.state, _backfill_done, bindings=["items"], intervals={"items": "PT1H"}
    )
    assert _backfill_done(second)
    all_ids = _ids(first) + _ids(second)
    assert Counter(all_ids).most_common(1)[0][1] == 1, "an id was captured twice"
    assert set(all_ids) == _expected(fake, 1, 2500)
    assert _items_state(second)["inc"]["new"] == {"cursor": 2500}


async def test_a_fresh_start_emits_each_item_once(threaded_server: LocalServer, fake: FakeHackerNews) -> None:
    """A capture that never restarted has no ids another process may have seen as `null`:
    nothing below its first cursor is fetched again by the changed-items stream, even once that
    stream has polled (twice) after the backfill."""
    config = {"base_url": threaded_server.url, "concurrency": 16, "start_id": 2300}
    seen_cursors: set[str] = set()

    def polled_after_backfill(session: Session) -> bool:
        if _backfill_done(session):
            seen_cursors.add(_items_state(session)["inc"]["updates"]["cursor"])
        return len(seen_cursors) >= 3

    session = await run_session(
        config, {}, polled_after_backfill, bindings=["items"], intervals={"items": "PT1S"}, max_seconds=30
    )
    counts = Counter(_ids(session))
    assert set(counts) == _expected(fake, 2300, 2500)
    twice = sorted(n for n, count in counts.items() if count > 1)
    assert twice == [], f"items emitted twice on a fresh start: {twice}"


async def test_incremental_capture_picks_up_new_items_and_updates(
    threaded_server: LocalServer, fake: FakeHackerNews
) -> None:
    config = {"base_url": threaded_server.url, "concurrency": 16, "start_id": 2400}
    bindings = ["items", "users", "updates"]
    first = await run_session(config, {}, _backfill_done, bindings=bindings, intervals=FAST)
    assert set(_ids(first)) >= _expected(fake, 2400, 2500)

    result = fake.advance(new_items=25, edits=4, deletes=1)
    new_ids = _expected(fake, 2501, 2525)
    changed = set(result["changed"])
    authors = {fake.author(n) for n in changed}

    def caught_up(session: Session) -> bool:
        items = {doc["id"]: doc for name, doc in session.committed if name == "items"}
        users = {doc["id"] for name, doc in session.committed if name == "users"}
        feeds = [doc for name, doc in session.committed if name == "updates"]
        return (
            new_ids <= items.keys()
            and all(items.get(n) == _expected_doc(fake, n) for n in changed)
            and authors <= users
            and any(feed["items"][: len(result["changed"])] for feed in feeds)
            and session.state["bindingStateV1"]["items"]["inc"]["new"]["cursor"] == 2525
        )

    second = await run_session(
        config, first.state, caught_up, bindings=bindings, intervals=FAST, max_seconds=30
    )
    assert caught_up(second)
    counts = Counter(_ids(second))
    assert all(counts[n] == 1 for n in new_ids), "a new item was emitted twice"
    deleted = result["changed"][-1]
    assert [doc for name, doc in second.committed if name == "items" and doc["id"] == deleted][-1][
        "deleted"
    ] is True
    # The restarted process rechecks the window below its cursor once (an id the previous
    # process saw as null there may exist now), so those ids may come again; nothing older may.
    rechecked = range(2500 - NULL_RECHECK_WINDOW + 1, 2501)
    assert not any(
        name == "items"
        and doc["id"] <= 2500
        and doc["id"] not in rechecked
        and doc["id"] not in changed | set(fake.updates()["items"])
        for name, doc in second.committed
    ), "the backfill ran again"


def _expected_doc(fake: FakeHackerNews, n: int) -> dict[str, Any]:
    """The document the connector should emit for the fake's current item `n`."""
    from source_hackernews.models import Item

    raw = fake.item(n)
    assert raw is not None
    return Item.model_validate(raw).model_dump(mode="json", by_alias=True, exclude_unset=True)


async def test_a_story_leaving_a_list_is_tombstoned(
    threaded_server: LocalServer, fake: FakeHackerNews
) -> None:
    config = {"base_url": threaded_server.url}
    lists = ["askstories", "jobstories"]

    def snapshotted(session: Session) -> bool:
        states = session.state.get("bindingStateV1", {})
        return all("snapshot" in states.get(name, {}) for name in lists)

    first = await run_session(config, {}, snapshotted, bindings=lists, intervals=FAST)
    before = {name: fake.story_list(name) for name in lists}
    for name in lists:
        docs = [doc for b, doc in first.committed if b == name]
        assert [(d["rank"], d["id"]) for d in docs] == [(i + 1, n) for i, n in enumerate(before[name])]
        assert {d["_meta"]["op"] for d in docs} == {"c"}

    result = fake.advance(delist=2)
    after = {name: fake.story_list(name) for name in lists}
    assert all(len(after[name]) < len(before[name]) for name in lists)

    def tombstoned(session: Session) -> bool:
        return all(
            any(d.get("_meta", {}).get("op") == "d" for b, d in session.committed if b == name)
            for name in lists
        )

    second = await run_session(
        config, first.state, tombstoned, bindings=lists, intervals=FAST, max_seconds=30
    )
    for name in lists:
        docs = [doc for b, doc in second.committed if b == name]
        live = [d for d in docs if d["_meta"]["op"] != "d"]
        gone = [d for d in docs if d["_meta"]["op"] == "d"]
        assert [(d["rank"], d["id"]) for d in live] == [(i + 1, n) for i, n in enumerate(after[name])]
        assert [d["_meta"]["row_id"] for d in gone] == list(range(len(after[name]), len(before[name])))
        assert not {d["id"] for d in live} & set(result["delisted"])


async def test_faults_are_survived_with_nothing_missing(
    threaded_server: LocalServer, fake: FakeHackerNews
) -> None:
    """Every kind of fault reaches the real connector process. The thorough (and backoff-heavy)
    fault matrix runs in test_api.py on a fake clock; here the waits are kept to about a second:
    429s carry `Retry-After: 0`, and the other faults hit once each."""
    faults = threaded_server.faults
    faults.rate_limit(path=re.compile(r"/v0/item/\d*3\.json"), times=15, retry_after=0)
    faults.rate_limit(path="/v0/maxitem.json", retry_after=0)
    faults.server_errors((503,), path=re.compile(r"/v0/item/\d*5\.json"))
    faults.drop_connection(path=re.compile(r"/v0/item/\d*7\.json"))
    faults.truncate_body(path=re.compile(r"/v0/item/\d*9\.json"))
    config = {"base_url": threaded_server.url, "concurrency": 16, "start_id": 1500}
    session = await run_session(
        config, {}, _backfill_done, bindings=["items"], intervals={"items": "PT1H"}, max_seconds=60
    )
    assert _backfill_done(session)
    assert set(_ids(session)) == _expected(fake, 1500, 2500)
    assert faults.pending() == 0
    injected = Counter((f or "").split(":")[0] for f in threaded_server.requests.faults() if f)
    assert injected == {"status": 17, "drop": 1, "truncate": 1}


async def test_hostile_presets_through_the_fault_proxy(fake: FakeHackerNews) -> None:
    """The kit's fault proxy in front of the fake API: transient presets are survived with
    nothing missing; a 200 that is not JSON fails the capture naming the URL."""
    config = {"concurrency": 16, "start_id": 2400}
    with serve_app_in_thread(lambda: make_app(fake)) as api:
        with serve_proxy(api.url) as proxy:
            apply_preset(proxy.faults, "5xx-burst", path=re.compile(r"/v0/item/\d*5\.json"), times=4)
            apply_preset(proxy.faults, "resets", path=re.compile(r"/v0/item/\d*7\.json"), times=2)
            apply_preset(proxy.faults, "truncated", path=re.compile(r"/v0/item/\d*9\.json"), times=2)
            session = await run_session(
                {**config, "base_url": proxy.url},
                {},
                _backfill_done,
                bindings=["items"],
                intervals={"items": "PT1H"},
            )
            assert set(_ids(session)) == _expected(fake, 2400, 2500)
            assert proxy.faults.pending() == 0
        with serve_proxy(api.url) as proxy:
            apply_preset(proxy.faults, "invalid-json", path="/v0/item/2450.json")
            with pytest.raises(ConnectorError) as info:
                await run_session(
                    {**config, "base_url": proxy.url},
                    {},
                    _backfill_done,
                    bindings=["items"],
                    intervals={"items": "PT1H"},
                )
    assert f"{proxy.url}/v0/item/2450.json did not return JSON" in str(info.value) + str(info.value.last_log)
