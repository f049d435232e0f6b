"""Listing changes through the search API, completely (hubspot.md §2.4, §5; §6.4 #6, #7, #8):
more than 10,000 rows in a window, more than 10,000 rows in one millisecond, and results
misordered by up to an hour. The lister's output is checked against the fake's store, and the
requests against HubSpot's cap (never a page past 10,000, never a 400)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from estuary_cdk.testing import FakeClock
from fake_hubspot import FakeHubSpot, Sizes
from harness import LOG, TYPES, Connected, collect, connected, delayed_poll
from source_hubspot_native.api import dual
from source_hubspot_native.api.search import RESULT_CAP, search_changes

START = datetime(2030, 1, 1, tzinfo=UTC)
HOUR_MS = 3_600_000


def spread(clock: FakeClock, name: str, count: int, over_ms: int, start_ms: int) -> Any:
    """A fake whose first `count` records of `name` were modified in `[start_ms, start_ms + over_ms)`."""

    def factory(c: FakeClock) -> FakeHubSpot:
        fake = FakeHubSpot(seed=7, sizes=Sizes(**{name: count}), clock=c)
        for i, rid in enumerate(fake.ids(name)[:count]):
            fake.crm.mutate(name, rid, {}, at_ms=start_ms + (i * over_ms) // count)
        return fake

    return factory


def searches(c: Connected, path: str) -> list[dict[str, Any]]:
    return [json.loads(r.body) for r in c.requests(f"/crm/v3/objects/{path}/search", "POST")]


def assert_within_cap(c: Connected, path: str) -> None:
    bodies = searches(c, path)
    assert bodies
    assert all(int(b.get("after") or 0) + int(b["limit"]) <= RESULT_CAP for b in bodies)
    assert c.fake.status_log.count(400) == 0


async def test_12000_changes_in_one_window_are_split_by_time_with_checkpoints() -> None:
    clock = FakeClock(start=START + timedelta(hours=3))
    start_ms = dual.to_ms(START)
    async with connected(spread(clock, "deals", 12_000, HOUR_MS, start_ms), clock=clock) as c:
        emitted, checkpoints = await delayed_poll(c, "deals", START - timedelta(milliseconds=1))
        assert sorted(emitted) == c.fake.ids("deals")  # every one, once
        assert len(checkpoints) >= 2 and checkpoints == sorted(checkpoints)
        assert checkpoints[-1] == START - timedelta(milliseconds=1) + timedelta(hours=1)
        assert_within_cap(c, "deals")


async def test_10500_rows_in_one_millisecond_are_drained_by_id() -> None:
    clock = FakeClock(start=START + timedelta(hours=3))
    stamp = dual.to_ms(START) + 1234

    def factory(c: FakeClock) -> FakeHubSpot:
        fake = FakeHubSpot(seed=7, sizes=Sizes(contacts=10_500), clock=c)
        fake.crm.bulk_touch("contacts", fake.ids("contacts"), at_ms=stamp)  # a month-end batch update
        return fake

    async with connected(factory, clock=clock) as c:
        windows = await collect(
            search_changes(c.client, TYPES["contacts"], LOG, START, START + timedelta(hours=1))
        )
        listed = [x.key for w in windows for x in w.changes]
        assert sorted(listed) == c.fake.ids("contacts")
        assert len(listed) == len(set(listed))
        assert all(x.ts == dual.from_ms(stamp) for w in windows for x in w.changes)
        # The drain asks by id past the last one seen, sorted by id, and the listing goes on past it.
        drains = [
            b
            for b in searches(c, "contacts")
            if any(f["propertyName"] == "hs_object_id" for f in b["filters"])
        ]
        assert len(drains) >= 2
        assert windows[-1].upper == START + timedelta(hours=1)
        assert_within_cap(c, "contacts")


async def test_results_misordered_by_up_to_an_hour_lose_nothing() -> None:
    clock = FakeClock(start=START + timedelta(hours=3))
    start_ms = dual.to_ms(START)
    async with connected(spread(clock, "deals", 12_000, HOUR_MS, start_ms), clock=clock) as c:
        c.fake.knobs.misorder_rate = 0.3
        c.fake.knobs.misorder_max_ms = HOUR_MS
        emitted, _ = await delayed_poll(c, "deals", START - timedelta(milliseconds=1))
        assert sorted(emitted) == c.fake.ids("deals")
        assert_within_cap(c, "deals")


async def test_a_row_leaving_the_window_while_it_is_paged_does_not_hide_another() -> None:
    """Offset paging over a set that shrinks mid-read shifts rows between pages; the window is
    read again when its total moves, so the row that slid past a page boundary is listed."""
    clock = FakeClock(start=START + timedelta(hours=3))
    start_ms = dual.to_ms(START)
    async with connected(spread(clock, "deals", 1_000, HOUR_MS, start_ms), clock=clock) as c:
        leaver = c.fake.ids("deals")[10]
        c.fake.on_request(
            "/crm/v3/objects/deals/search",
            lambda: c.fake.crm.mutate("deals", leaver, {}, at_ms=start_ms + 2 * HOUR_MS),
            skip=2,
        )
        since = START - timedelta(milliseconds=1)
        windows = await collect(
            search_changes(c.client, TYPES["deals"], LOG, since, START + timedelta(hours=1))
        )
        listed = {x.key for w in windows for x in w.changes}
        assert listed >= set(c.fake.ids("deals")[:1_000]) - {leaver}
