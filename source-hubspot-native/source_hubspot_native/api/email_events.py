"""Email events (hubspot.md §2.1, §3.6): `GET /email/public/v1/events` between two inclusive
epoch-millisecond bounds, 1,000 at a time, paged by an offset string that is present even on the
last page (`hasMore` says whether to follow it). The listing carries the events themselves, so
the change streams need no second read."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, AsyncIterator
from datetime import datetime
from typing import Any

from estuary_cdk.capture.common import LogCursor, PageCursor

from ..models import EmailEvent
from .client import HubSpot, HubSpotError
from .dual import Listed, Window, to_ms

PATH = "/email/public/v1/events"
LIMIT = 1000


async def _pages(
    client: HubSpot, log: logging.Logger, params: dict[str, Any], offset: str | None = None
) -> AsyncIterator[tuple[list[EmailEvent], str | None]]:
    """Pages of events and the offset of the page after each (None after the last)."""
    while True:
        query = {**params, "limit": LIMIT, **({"offset": offset} if offset else {})}
        body = await client.get(log, PATH, query)
        events = body.get("events") if isinstance(body, dict) else None
        if not isinstance(events, list):
            raise HubSpotError(f"GET {PATH} returned no events list: {str(body)[:300]}")
        offset = str(body["offset"]) if body.get("hasMore") and body.get("offset") is not None else None
        yield [EmailEvent.model_validate(e) for e in events], offset
        if offset is None:
            return


async def fetch_email_events_page(
    client: HubSpot, log: logging.Logger, page: PageCursor, cutoff: LogCursor
) -> AsyncGenerator[EmailEvent | str, None]:
    """One page of the backfill: events before the cutoff, then the next page's offset."""
    if not isinstance(cutoff, datetime):
        raise HubSpotError(f"the backfill cutoff of email_events is not a time: {cutoff!r}")
    params = {"endTimestamp": to_ms(cutoff) - 1}
    async for events, following in _pages(client, log, params, str(page) if page is not None else None):
        for event in events:
            yield event
        if following is not None:
            yield following
        return


async def list_email_events(
    client: HubSpot, log: logging.Logger, since: datetime, until: datetime | None
) -> AsyncIterator[Window]:
    """Events created in `(since, until]` (`until` None: now), carried in the listing."""
    upper = until if until is not None else client.http.clock.now()
    params = {"startTimestamp": to_ms(since) + 1, "endTimestamp": to_ms(upper)}
    changes: list[Listed] = []
    async for events, _ in _pages(client, log, params):
        changes += [Listed(e.created, e.id, e) for e in events]
    yield Window(upper, changes)


async def probe_email_events(client: HubSpot, log: logging.Logger) -> None:
    """One event: whether the credentials may read them (discovery)."""
    await client.get(log, PATH, {"limit": 1})
