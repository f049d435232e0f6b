"""The realtime + delayed pair of change streams of a CRM binding (hubspot.md §2.4; §6.4 #4)
in-process, on the fake's clock: realtime emits a change within a poll, the delayed stream
skips what realtime emitted (the emitted-changes cache) and recovers what realtime missed;
after a restart (an empty cache) the delayed stream emits again, so nothing is lost and
duplicates stay inside the lag."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from typing import Any

import estuary_cdk.emitted_changes_cache as cache
import pytest
from harness import LOG, TYPES, Connected, collect, connected
from source_hubspot_native.api import dual
from source_hubspot_native.api.crm_read import read_in_batches
from source_hubspot_native.api.search import search_changes
from source_hubspot_native.models import CRMObject

LAG = timedelta(hours=1)
SEARCH_LAG_MS = 5_000
NAME = "hs_string_field_0"  # a property every fake deal has
_names = itertools.count()


class Streams:
    """The two subtasks of the `deals` binding, under a cache name of their own."""

    def __init__(self, c: Connected) -> None:
        self.c = c
        self.name = f"deals-{next(_names)}"
        crm = TYPES["deals"]

        def lister(log: Any, since: datetime, until: datetime | None) -> Any:
            return search_changes(c.client, crm, log, since, until)

        async def hydrate(log: Any, changes: list[dual.Listed]) -> Any:
            async for docs in read_in_batches(
                c.client, c.properties, crm, log, [int(x.key) for x in changes], False
            ):
                yield docs

        self.lister, self.hydrate = lister, hydrate

    async def realtime(self, cursor: datetime) -> tuple[list[CRMObject], datetime]:
        out = await collect(
            dual.realtime_changes(self.name, self.lister, self.hydrate, self.c.clock, LOG, cursor)
        )
        return _split(out, cursor)

    async def delayed(self, cursor: datetime) -> tuple[list[CRMObject], datetime]:
        out = await collect(
            dual.delayed_changes(self.name, self.lister, self.hydrate, self.c.clock, LAG, LOG, cursor)
        )
        return _split(out, cursor)

    def restart(self) -> None:
        cache.emitted_cache.pop(self.name, None)


def _split(out: list[Any], cursor: datetime) -> tuple[list[CRMObject], datetime]:
    docs = [x for x in out if isinstance(x, CRMObject)]
    cursors = [x for x in out if isinstance(x, datetime)]
    assert cursors == sorted(cursors) and all(x > cursor for x in cursors)
    return docs, cursors[-1] if cursors else cursor


@pytest.fixture
async def c() -> Any:
    async with connected() as running:
        running.fake.crm.search_lag_ms = SEARCH_LAG_MS
        yield running


async def test_realtime_emits_within_a_poll_and_delayed_skips_it(c: Connected) -> None:
    s = Streams(c)
    t0 = c.clock.now()
    rt, dl = t0, t0 - LAG
    c.clock.advance(1)
    new = c.fake.crm.create("deals", {NAME: "New deal"})
    old = c.fake.ids("deals")[0]
    c.fake.crm.mutate("deals", old, {NAME: "Renamed"})
    # Within the search lag realtime sees nothing yet, and its cursor stays.
    docs, rt = await s.realtime(rt)
    assert (docs, rt) == ([], t0)
    c.clock.advance(SEARCH_LAG_MS / 1000)
    docs, rt = await s.realtime(rt)
    assert sorted((d.id, d.properties[NAME]) for d in docs) == sorted(
        [(new.id, "New deal"), (old, "Renamed")]
    )
    assert rt == dual.from_ms(new.updated_ms) or rt == dual.from_ms(
        c.fake.crm.types["deals"].records[old].updated_ms
    )
    # An hour and more later the delayed stream reaches those changes: cache hits, nothing again.
    c.clock.advance(LAG.total_seconds() + 600)
    emitted: list[CRMObject] = []
    while dl < t0 + timedelta(minutes=5):
        docs, dl = await s.delayed(dl)
        emitted += docs
    assert emitted == []
    # A new process (empty cache) from the same delayed cursor emits them again: at least once.
    s.restart()
    again, _ = await s.delayed(t0 - timedelta(milliseconds=1))
    assert {d.id for d in again} == {new.id, old}


async def test_a_change_that_shows_up_late_is_recovered_by_the_delayed_stream(c: Connected) -> None:
    """A change indexed after newer ones were read (#1861): realtime has moved past its time and
    never emits it; the delayed stream, reading a settled window, does."""
    s = Streams(c)
    t0 = c.clock.now()
    rt, dl = t0, t0 - LAG
    c.clock.advance(10)
    seen = c.fake.crm.create("deals", {NAME: "Seen"})
    c.clock.advance(SEARCH_LAG_MS / 1000)
    docs, rt = await s.realtime(rt)
    assert [d.id for d in docs] == [seen.id]
    # Now a change stamped before realtime's cursor is indexed.
    late = c.fake.ids("deals")[5]
    c.fake.crm.mutate("deals", late, {NAME: "Late"}, at_ms=dual.to_ms(t0) + 2_000)
    c.clock.advance(SEARCH_LAG_MS / 1000)
    docs, rt = await s.realtime(rt)
    assert docs == []
    c.clock.advance(LAG.total_seconds() + 600)
    emitted: list[CRMObject] = []
    while dl < t0 + timedelta(minutes=5):
        docs, dl = await s.delayed(dl)
        emitted += docs
    assert [(d.id, d.properties[NAME]) for d in emitted] == [(late, "Late")]


async def test_the_delayed_stream_waits_for_a_window_worth_reading(c: Connected) -> None:
    """No hot loop: with less than `min_window` settled past its cursor, a poll returns at once
    without a request."""
    s = Streams(c)
    sent = len(c.server.requests)
    start = c.clock.now() - LAG - dual.min_window(LAG) / 2
    docs, cursor = await s.delayed(start)
    assert docs == [] and cursor == start and len(c.server.requests) == sent


async def test_realtime_after_a_downtime_catches_up_an_hour_at_a_time(c: Connected) -> None:
    s = Streams(c)
    start = c.clock.now()
    c.clock.advance(5 * 3600)
    _, cursor = await s.realtime(start)
    assert cursor == start + dual.MAX_WINDOW


async def test_an_idle_realtime_poll_pauses_before_it_returns_a_busy_one_does_not(c: Connected) -> None:
    """At interval 0 the engine polls again as soon as a poll returns: an idle binding would
    spend the account's request budget on empty polls. One request per idle `IDLE_PAUSE`."""
    s = Streams(c)
    cursor = c.clock.now()
    c.clock.advance(1)
    sent, before = len(c.server.requests), c.clock.now()
    docs, after_idle = await s.realtime(cursor)
    assert (docs, after_idle) == ([], cursor)
    assert c.clock.now() - before >= dual.IDLE_PAUSE
    assert len(c.server.requests) - sent == 1
    c.clock.advance(1)
    changed = c.fake.crm.create("deals", {NAME: "Busy"})
    c.clock.advance(SEARCH_LAG_MS / 1000)
    before = c.clock.now()
    docs, moved = await s.realtime(cursor)
    assert [d.id for d in docs] == [changed.id] and moved > cursor
    assert c.clock.now() - before < dual.IDLE_PAUSE
