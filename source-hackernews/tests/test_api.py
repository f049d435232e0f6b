"""API calls and fetch functions against the local fake API (no capture engine involved)."""

import logging
from datetime import UTC, datetime
from typing import Any

import estuary_cdk.emitted_changes_cache as changes_cache
import pytest
from estuary_cdk.capture.common import AssociatedDocument
from estuary_cdk.http import HTTPMixin
from estuary_cdk.testing import LocalServer
from source_hackernews import api
from source_hackernews.fake_api import FakeHackerNews
from source_hackernews.models import EndpointConfig, Item, StoryRank, UpdatesFeed, User

LOG = logging.getLogger("tests.api")


@pytest.fixture(autouse=True)
def _fresh_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    """The changes cache is process-wide; every test starts with an empty one."""
    monkeypatch.setattr(changes_cache, "emitted_cache", {})
    monkeypatch.setattr(api, "_null_rechecks", {})


async def _collect(gen: Any) -> list[Any]:
    return [x async for x in gen]


def _expected_ids(fake: FakeHackerNews, first: int, last: int) -> list[int]:
    return [n for n in range(first, last + 1) if fake.exists(n)]


async def test_raw_calls(http: HTTPMixin, server: LocalServer, fake: FakeHackerNews) -> None:
    base = server.url
    assert await api.fetch_maxitem(http, base, LOG) == 2500
    item = await api.fetch_item(http, base, LOG, 1)
    assert item is not None and item.id == 1 and item.type == fake.item(1)["type"]  # type: ignore[index]
    assert item.time == datetime.fromtimestamp(fake.time(1), tz=UTC)
    assert '"time":"2023-11-14T22:13:27Z"' in item.model_dump_json(by_alias=True, exclude_unset=True)
    missing = next(n for n in range(1, 2500) if not fake.exists(n))
    assert await api.fetch_item(http, base, LOG, missing) is None
    user = await api.fetch_user(http, base, LOG, "user1")
    assert isinstance(user, User) and user.karma == fake.user("user1")["karma"]  # type: ignore[index]
    assert await api.fetch_user(http, base, LOG, "nobody") is None
    ids, names = await api.fetch_updates(http, base, LOG)
    assert ids == fake.updates()["items"] and names == fake.updates()["profiles"]
    assert await api.fetch_story_list(http, base, LOG, "askstories") == fake.story_list("askstories")


async def test_deleted_items_keep_their_key_and_are_marked(
    http: HTTPMixin, server: LocalServer, fake: FakeHackerNews
) -> None:
    n = next(n for n in range(1, 2500) if fake.exists(n) and fake.is_deleted(n))
    item = await api.fetch_item(http, server.url, LOG, n)
    assert item is not None and item.id == n and item.deleted is True
    dumped = item.model_dump(by_alias=True, exclude_unset=True)
    assert "_meta" not in dumped  # a document, not a deletion


async def test_find_first_id_at(http: HTTPMixin, server: LocalServer, fake: FakeHackerNews) -> None:
    for target in (1, 2, 777, 1234, 2500):
        when = datetime.fromtimestamp(fake.time(target), tz=UTC)
        first = await api.find_first_id_at(http, server.url, LOG, when, 2500)
        expected = next(n for n in range(target, 2501) if fake.exists(n))
        assert first == expected


async def test_backfill_yields_every_item_in_order_with_checkpoints(
    http: HTTPMixin, config: EndpointConfig, fake: FakeHackerNews, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(api, "CHECKPOINT_EVERY", 500)
    out = await _collect(api.backfill_items(http, config, LOG, None, 2500))
    docs = [x.id for x in out if isinstance(x, Item)]
    cursors = [x for x in out if isinstance(x, int)]
    assert docs == _expected_ids(fake, 1, 2500)
    assert cursors == [501, 1001, 1501, 2001]
    # Each cursor comes right after the last id below it, so a restart re-fetches nothing.
    for cursor in cursors:
        at = out.index(cursor)
        assert all(d.id < cursor for d in out[:at] if isinstance(d, Item))
        assert all(d.id >= cursor for d in out[at:] if isinstance(d, Item))


async def test_backfill_resumes_at_the_page_cursor(
    http: HTTPMixin, config: EndpointConfig, fake: FakeHackerNews
) -> None:
    out = await _collect(api.backfill_items(http, config, LOG, 2001, 2500))
    assert [x.id for x in out if isinstance(x, Item)] == _expected_ids(fake, 2001, 2500)
    assert not any(isinstance(x, int) for x in out)


async def test_backfill_starts_at_configured_id_or_date(
    http: HTTPMixin, server: LocalServer, fake: FakeHackerNews
) -> None:
    by_id = EndpointConfig(base_url=server.url, start_id=2400)
    out = await _collect(api.backfill_items(http, by_id, LOG, None, 2500))
    assert [x.id for x in out if isinstance(x, Item)] == _expected_ids(fake, 2400, 2500)
    by_date = EndpointConfig(base_url=server.url, start_date=datetime.fromtimestamp(fake.time(2450), tz=UTC))
    out = await _collect(api.backfill_items(http, by_date, LOG, None, 2500))
    assert [x.id for x in out if isinstance(x, Item)] == _expected_ids(fake, 2450, 2500)


async def test_new_items_past_the_cursor(
    http: HTTPMixin, config: EndpointConfig, server: LocalServer, fake: FakeHackerNews
) -> None:
    assert await _collect(api.fetch_new_items(http, config, None, LOG, 2500)) == []
    fake.advance(new_items=30)
    out = await _collect(api.fetch_new_items(http, config, None, LOG, 2500))
    assert [x.id for x in out if isinstance(x, Item)] == _expected_ids(fake, 2501, 2530)
    assert out[-1] == 2530
    assert await _collect(api.fetch_new_items(http, config, None, LOG, 2530)) == []


async def test_a_new_id_that_is_briefly_null_is_captured_by_the_changed_items_stream(
    http: HTTPMixin, config: EndpointConfig, fake: FakeHackerNews, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake.advance(new_items=30)
    late = next(n for n in range(2530, 2500, -1) if fake.exists(n))
    real_exists, real_updates = fake.exists, fake.updates
    monkeypatch.setattr(fake, "exists", lambda n: n != late and real_exists(n))
    # The updates feed does not list it, so only the recheck can find it.
    monkeypatch.setattr(
        fake,
        "updates",
        lambda: {**real_updates(), "items": [n for n in real_updates()["items"] if n != late]},
    )
    new = await _collect(api.fetch_new_items(http, config, None, LOG, 2500))
    assert late not in {x.id for x in new if isinstance(x, Item)}
    assert new[-1] == 2530  # the cursor moved past the id that was still null
    monkeypatch.setattr(fake, "exists", real_exists)  # the API has finished writing it

    start = datetime(2024, 1, 1, tzinfo=UTC)
    changed = await _collect(api.fetch_item_updates(http, config, LOG, start))
    assert late in {x.id for x in changed if isinstance(x, Item)}
    assert api._null_rechecks == {}
    again = await _collect(api.fetch_item_updates(http, config, LOG, changed[-1]))
    assert late not in {x.id for x in again if isinstance(x, Item)}


async def test_an_id_that_stays_null_is_rechecked_a_bounded_number_of_times(
    http: HTTPMixin, config: EndpointConfig, fake: FakeHackerNews, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake.advance(new_items=30)
    gone = next(n for n in range(2530, 2500, -1) if fake.exists(n))
    real_exists, real_updates = fake.exists, fake.updates
    monkeypatch.setattr(fake, "exists", lambda n: n != gone and real_exists(n))
    # The updates feed does not list it, so only the recheck can find it.
    monkeypatch.setattr(
        fake,
        "updates",
        lambda: {**real_updates(), "items": [n for n in real_updates()["items"] if n != gone]},
    )
    await _collect(api.fetch_new_items(http, config, None, LOG, 2500))
    assert api._null_rechecks[gone] == api.NULL_RECHECK_POLLS
    cursor = datetime(2024, 1, 1, tzinfo=UTC)
    for _ in range(api.NULL_RECHECK_POLLS):
        assert gone in api._null_rechecks
        out = await _collect(api.fetch_item_updates(http, config, LOG, cursor))
        assert gone not in {x.id for x in out if isinstance(x, Item)}
        cursor = out[-1]
    assert gone not in api._null_rechecks


async def test_after_a_restart_the_window_below_the_cursor_is_rechecked(
    http: HTTPMixin, config: EndpointConfig, fake: FakeHackerNews, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The previous process moved the cursor to 2530 past an id that was still null, then stopped
    # before rechecking it: this process knows nothing of it.
    fake.advance(new_items=30)
    late = next(n for n in range(2530, 2500, -1) if fake.exists(n))
    real_updates = fake.updates
    monkeypatch.setattr(
        fake,
        "updates",
        lambda: {**real_updates(), "items": [n for n in real_updates()["items"] if n != late]},
    )
    window = range(2530 - api.NULL_RECHECK_WINDOW + 1, 2531)
    assert api.recheck_after_restart(2530, None, None) == list(window)  # the backfill is done
    assert await _collect(api.fetch_new_items(http, config, None, LOG, 2530)) == []
    assert set(api._null_rechecks) == set(window)

    changed = await _collect(api.fetch_item_updates(http, config, LOG, datetime(2024, 1, 1, tzinfo=UTC)))
    found = {x.id for x in changed if isinstance(x, Item)}
    assert late in found
    assert found >= set(_expected_ids(fake, window.start, window.stop - 1))
    # Ids that exist are done with; empty ones keep being rechecked a bounded number of times.
    assert set(api._null_rechecks) == {n for n in window if not fake.exists(n)}
    assert all(left == api.NULL_RECHECK_POLLS - 1 for left in api._null_rechecks.values())
    # Polling for new items puts nothing up again.
    await _collect(api.fetch_new_items(http, config, None, LOG, 2530))
    assert all(left == api.NULL_RECHECK_POLLS - 1 for left in api._null_rechecks.values())


def test_only_ids_a_previous_process_passed_are_rechecked() -> None:
    # A fresh start (the backfill not begun, the new-items cursor at its cutoff): nothing.
    assert api.recheck_after_restart(2500, 2500, None) == []
    # The backfill is at 2001: ids up to its cutoff are still its own; new ids past it were passed.
    assert api.recheck_after_restart(2530, 2500, 2001) == list(range(2501, 2531))
    # The backfill passed part of the window.
    assert api.recheck_after_restart(2500, 2500, 2451) == list(range(2401, 2451))
    # Nothing below where the capture began.
    assert api.recheck_after_restart(2500, None, None, first_id=2480) == list(range(2480, 2501))


async def test_the_backfill_puts_its_newest_null_ids_up_for_rechecking(
    http: HTTPMixin, config: EndpointConfig, fake: FakeHackerNews, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a fresh start's backfill saw as `null` near its cutoff may be an item the API was
    still writing: it is rechecked like one the new-items stream passed."""
    cutoff = 2500
    writing = {2250, 2405, 2499}  # one outside the window, two inside
    real_exists = fake.exists
    monkeypatch.setattr(fake, "exists", lambda n: n not in writing and real_exists(n))
    empty = [n for n in range(cutoff - 300, cutoff + 1) if not fake.exists(n)]
    await _collect(api.backfill_items(http, config, LOG, cutoff - 300, cutoff))
    assert sorted(api._null_rechecks) == [n for n in empty if n > cutoff - api.NULL_RECHECK_WINDOW]
    assert {2405, 2499} <= set(api._null_rechecks) and 2250 not in api._null_rechecks


async def test_new_items_capture_their_authors_once(
    http: HTTPMixin, config: EndpointConfig, fake: FakeHackerNews
) -> None:
    fake.advance(new_items=40)
    out = await _collect(api.fetch_new_items(http, config, 4, LOG, 2500))
    users = [x for x in out if isinstance(x, AssociatedDocument)]
    authors = {fake.author(n) for n in _expected_ids(fake, 2501, 2540) if not fake.is_deleted(n)}
    assert {u.doc.id for u in users} == authors
    assert len(users) == len(authors) and all(u.binding == 4 for u in users)


async def test_item_updates_emit_each_change_once(
    http: HTTPMixin, config: EndpointConfig, fake: FakeHackerNews
) -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    first = await _collect(api.fetch_item_updates(http, config, LOG, start))
    assert [x.id for x in first if isinstance(x, Item)] == [
        n for n in fake.updates()["items"] if fake.exists(n)
    ]
    cursor = first[-1]
    assert isinstance(cursor, datetime) and cursor > start
    # The feed still lists the same items, unchanged: nothing is emitted again.
    second = await _collect(api.fetch_item_updates(http, config, LOG, cursor))
    assert [x for x in second if isinstance(x, Item)] == [] and second[-1] > cursor
    result = fake.advance(edits=4, deletes=1)
    third = await _collect(api.fetch_item_updates(http, config, LOG, second[-1]))
    emitted = [x for x in third if isinstance(x, Item)]
    assert {x.id for x in emitted} == set(result["changed"])
    assert next(x for x in emitted if x.id == result["changed"][-1]).deleted is True


async def test_new_items_and_updates_do_not_duplicate_each_other(
    http: HTTPMixin, config: EndpointConfig, fake: FakeHackerNews
) -> None:
    fake.advance(new_items=10)
    new = await _collect(api.fetch_new_items(http, config, None, LOG, 2500))
    assert [x for x in new if isinstance(x, Item)]
    updates = await _collect(api.fetch_item_updates(http, config, LOG, datetime(2024, 1, 1, tzinfo=UTC)))
    new_ids = {x.id for x in new if isinstance(x, Item)}
    assert not new_ids & {x.id for x in updates if isinstance(x, Item)}


async def test_user_updates_emit_each_change_once(
    http: HTTPMixin, config: EndpointConfig, fake: FakeHackerNews
) -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    first = await _collect(api.fetch_user_updates(http, config, LOG, start))
    assert [x.id for x in first if isinstance(x, User)] == fake.updates()["profiles"]
    second = await _collect(api.fetch_user_updates(http, config, LOG, first[-1]))
    assert [x for x in second if isinstance(x, User)] == []
    result = fake.advance(edits=2)
    third = await _collect(api.fetch_user_updates(http, config, LOG, second[-1]))
    assert {x.id for x in third if isinstance(x, User)} == {fake.author(n) for n in result["changed"]}


async def test_updates_feed_emits_only_when_it_changes(
    http: HTTPMixin, config: EndpointConfig, fake: FakeHackerNews
) -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    first = await _collect(api.fetch_updates_feed(http, config, LOG, start))
    assert isinstance(first[0], UpdatesFeed) and first[0].items == fake.updates()["items"]
    assert len(first) == 2
    second = await _collect(api.fetch_updates_feed(http, config, LOG, first[-1]))
    assert len(second) == 1 and isinstance(second[0], datetime)
    fake.advance(new_items=3)
    third = await _collect(api.fetch_updates_feed(http, config, LOG, second[-1]))
    assert isinstance(third[0], UpdatesFeed) and third[0].items[:1] == fake.updates()["items"][:1]


async def test_story_list_snapshot_is_rank_ordered(
    http: HTTPMixin, config: EndpointConfig, fake: FakeHackerNews
) -> None:
    out = await _collect(api.snapshot_story_list(http, config, "topstories", LOG))
    assert out == [StoryRank(rank=i + 1, id=n) for i, n in enumerate(fake.story_list("topstories"))]
    with pytest.raises(ValueError):
        StoryRank(rank=1)


async def test_faults_are_survived_with_nothing_missing(
    http: HTTPMixin, config: EndpointConfig, server: LocalServer, fake: FakeHackerNews
) -> None:
    server.faults.rate_limit(path="/v0/item/7.json", times=3)
    server.faults.rate_limit(path="/v0/item/8.json", retry_after=2)
    server.faults.server_errors((500, 502, 503), path="/v0/item/100.json")
    server.faults.drop_connection(path="/v0/item/200.json", times=2)
    server.faults.truncate_body(path="/v0/item/300.json")
    out = await _collect(api.backfill_items(http, config, LOG, None, 400))
    assert [x.id for x in out if isinstance(x, Item)] == _expected_ids(fake, 1, 400)
    assert server.faults.pending() == 0
    assert server.requests.count("/v0/item/7.json") == 4


async def test_changes_cache_forgets_entries_past_the_retention(
    http: HTTPMixin, config: EndpointConfig, fake: FakeHackerNews
) -> None:
    """Time is the session's clock: the fake one moved past the retention, not a patched constant."""
    start = datetime(2024, 1, 1, tzinfo=UTC)
    first = await _collect(api.fetch_item_updates(http, config, LOG, start))
    remembered = changes_cache.count_for("items")
    assert remembered == len([x for x in first if isinstance(x, Item)]) > 0
    assert first[-1] == http.clock.now()  # the cursor is the poll time, on the session clock
    within = await _collect(api.fetch_item_updates(http, config, LOG, first[-1]))
    assert not [x for x in within if isinstance(x, Item)]  # remembered: nothing emitted again
    http.clock.advance(api.DEDUPE_RETENTION.total_seconds() + 1)  # type: ignore[attr-defined]
    again = await _collect(api.fetch_item_updates(http, config, LOG, within[-1]))
    # Everything was evicted before the poll, so the same items are emitted (and remembered) anew.
    assert [x.id for x in again if isinstance(x, Item)] == [x.id for x in first if isinstance(x, Item)]
    assert changes_cache.count_for("items") == remembered


async def test_validate_checks_the_base_url_serves_the_api(server: LocalServer) -> None:
    from estuary_cdk.capture import request
    from estuary_cdk.flow import ValidationError
    from estuary_cdk.testing import FakeClock
    from source_hackernews import Connector

    connector = Connector()
    connector.clock = FakeClock()
    await connector._mixin_enter(LOG)
    try:
        ok = await connector.validate(
            LOG, request.Validate(name="hn", config=EndpointConfig(base_url=server.url))
        )
        assert ok.bindings == []
        server.faults.status(404, path="/v0/maxitem.json")
        with pytest.raises(ValidationError) as err:
            await connector.validate(
                LOG, request.Validate(name="hn", config=EndpointConfig(base_url=server.url))
            )
        assert "maxitem.json" in err.value.errors[0]
        server.faults.status(200, path="/v0/maxitem.json", body=b"<html>not the API</html>")
        with pytest.raises(ValidationError) as err:
            await connector.validate(
                LOG, request.Validate(name="hn", config=EndpointConfig(base_url=server.url))
            )
        assert "did not return JSON" in err.value.errors[0]
        refused = EndpointConfig(base_url="http://127.0.0.1:9")  # discard port: nothing listens
        with pytest.raises(ValidationError) as err:
            await connector.validate(LOG, request.Validate(name="hn", config=refused))
        assert "127.0.0.1:9/v0/maxitem.json" in err.value.errors[0]
    finally:
        await connector._mixin_exit(LOG)
