"""The email_events binding against the fake, in-process: the backfill pages through events
before the cutoff by offset; new events are emitted by the realtime stream within a poll and
skipped by the delayed stream an hour later (carried in the listing: no second read)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fake_hubspot import FakeHubSpot, Sizes
from harness import LOG, Connected, collect, connected
from source_hubspot_native.api import dual
from source_hubspot_native.api.email_events import fetch_email_events_page, list_email_events
from source_hubspot_native.models import EmailEvent

LAG = timedelta(hours=1)


def many(clock: Any) -> FakeHubSpot:
    return FakeHubSpot(seed=7, sizes=Sizes(email_events=2_500), clock=clock)


def add_event(c: Connected, n: int) -> str:
    event = {
        "id": f"new-{n}",
        "created": dual.to_ms(c.clock.now()),
        "type": "OPEN",
        "recipient": "x@example.com",
    }
    with c.fake.marketing_lock:
        c.fake.marketing.email_events.append(event)
    return event["id"]


async def test_the_backfill_pages_through_every_event_before_the_cutoff() -> None:
    async with connected(many) as c:
        cutoff = c.clock.now()
        c.clock.advance(1)
        add_event(c, 0)  # after the cutoff: the incremental streams' to read
        ids: list[str] = []
        page: str | None = None
        pages = 0
        while True:
            out = await collect(fetch_email_events_page(c.client, LOG, page, cutoff))
            ids += [e.id for e in out if isinstance(e, EmailEvent)]
            pages += 1
            following = [x for x in out if isinstance(x, str)]
            if not following:
                break
            page = following[-1]
        assert pages == 3
        assert sorted(ids) == sorted(e["id"] for e in c.fake.marketing.email_events if e["id"] != "new-0")


async def test_new_events_come_through_realtime_once() -> None:
    async with connected() as c:
        t0 = c.clock.now()

        def lister(log: Any, since: Any, until: Any) -> Any:
            return list_email_events(c.client, log, since, until)

        name = f"email-{id(c)}"
        c.clock.advance(2)
        new = [add_event(c, n) for n in range(3)]
        out = await collect(dual.realtime_changes(name, lister, dual.carried, c.clock, LOG, t0))
        assert sorted(e.id for e in out if isinstance(e, EmailEvent)) == sorted(new)
        c.clock.advance(LAG.total_seconds() + 600)
        emitted: list[EmailEvent] = []
        cursor = t0 - LAG
        while cursor < t0 + timedelta(minutes=5):
            got = await collect(dual.delayed_changes(name, lister, dual.carried, c.clock, LAG, LOG, cursor))
            emitted += [e for e in got if isinstance(e, EmailEvent)]
            cursor = max([x for x in got if not isinstance(x, EmailEvent)], default=cursor)
        assert emitted == []
