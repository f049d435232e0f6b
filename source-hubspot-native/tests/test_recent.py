"""The realtime stream's legacy "recently modified" listings (hubspot.md §2.3; §6.4 #5, #9):
one small request when idle, newest-first paging down to the cursor, a stop after 9,900 rows,
and what they miss (rows they hide for a while, bursts past their cap) recovered by the delayed
stream's search."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from estuary_cdk.testing import FakeClock
from fake_hubspot import FakeHubSpot, Sizes
from harness import LOG, Connected, collect, connected, delayed_poll
from source_hubspot_native.api import dual
from source_hubspot_native.api.recent import MAX_IDS, RECENT, recent_changes

LAG = timedelta(hours=1)


async def listed(c: Connected, binding: str, since: datetime) -> list[dual.Listed]:
    windows = await collect(recent_changes(c.client, RECENT[binding], LOG, since, None))
    return [x for w in windows for x in w.changes]


async def delayed_ids(c: Connected, binding: str, cursor: datetime) -> list[int]:
    """Every id the delayed stream (search) emits from `cursor` until it reaches the horizon."""
    emitted: list[int] = []
    while cursor < c.clock.now() - LAG - dual.min_window(LAG):
        ids, checkpoints = await delayed_poll(c, binding, cursor)
        emitted += ids
        cursor = max(checkpoints, default=cursor)
    return emitted


@pytest.mark.parametrize("binding", ["companies", "contacts", "deals", "engagements"])
async def test_an_idle_poll_is_one_request_and_changes_come_newest_first(binding: str) -> None:
    async with connected() as c:
        t0 = c.clock.now()
        assert await listed(c, binding, t0) == []
        assert [r.query.get("count") for r in c.requests(RECENT[binding].path)] == ["1"]
        ids = c.fake.ids(binding)[:150]
        for n, rid in enumerate(ids):
            c.clock.advance(1)
            c.fake.crm.mutate(binding, rid, {}, at_ms=dual.to_ms(c.clock.now()) - n % 3)
        got = await listed(c, binding, t0)
        assert sorted(int(x.key) for x in got) == sorted(ids)
        assert [x.ts for x in got] == sorted((x.ts for x in got), reverse=True)
        # Paging stops at the cursor: changes before it are not listed.
        middle = got[75].ts
        assert {int(x.key) for x in await listed(c, binding, middle)} == {
            int(x.key) for x in got if x.ts > middle
        }


async def test_rows_the_recent_api_hides_are_recovered_by_the_delayed_stream() -> None:
    """#5 (#1861): the legacy API shows a change only 10 minutes late; realtime moves past it,
    the delayed stream's search an hour later emits it."""
    async with connected() as c:
        c.fake.knobs.recent_lag_ms = 600_000
        t0 = c.clock.now()
        c.clock.advance(5)
        hidden = c.fake.ids("contacts")[7]
        c.fake.crm.mutate("contacts", hidden, {"firstname": "Hidden"})
        c.clock.advance(5)
        assert await listed(c, "contacts", t0) == []
        c.clock.advance(LAG.total_seconds() + 600)
        assert await delayed_ids(c, "contacts", t0 - timedelta(milliseconds=1)) == [hidden]


async def test_a_burst_past_the_recent_apis_cap_is_completed_by_the_delayed_stream() -> None:
    """#9: 10,500 engagements modified within an hour: realtime stops after 9,900 of them (the
    newest), the delayed stream lists all 10,500."""
    start = datetime(2030, 1, 1, 3, tzinfo=UTC)

    def factory(clock: FakeClock) -> FakeHubSpot:
        fake = FakeHubSpot(seed=7, sizes=Sizes(engagements=10_500), clock=clock)
        for n, rid in enumerate(fake.ids("engagements")):
            fake.crm.mutate("engagements", rid, {}, at_ms=dual.to_ms(start) + n * 300)
        return fake

    async with connected(factory, clock=FakeClock(start=start + timedelta(hours=1))) as c:
        got = await listed(c, "engagements", start - timedelta(milliseconds=1))
        assert len(got) == MAX_IDS
        assert {int(x.key) for x in got} == set(c.fake.ids("engagements")[-MAX_IDS:])
        c.clock.advance(LAG.total_seconds() + 600)
        emitted = await delayed_ids(c, "engagements", start - timedelta(milliseconds=1))
        assert sorted(emitted) == c.fake.ids("engagements")
