"""Marketing emails (hubspot.md §2.1, §3.7): `GET /marketing/v3/emails` between two exclusive
`updatedAt` bounds, in four passes. The listing with statistics (`includeStats=true`) leaves
some emails out (#3331), and archived emails are listed only with `archived=true`: so for each
archive state the emails are listed with their statistics, then without them for those the
first pass left out. Each email is listed once, with its statistics when HubSpot has them; the
listing carries the documents."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

from estuary_cdk.capture.common import LogCursor, PageCursor

from ..models import MarketingEmail
from .client import HubSpot, HubSpotError
from .dual import Listed, Window
from .listing import all_rows, first_row

PATH = "/marketing/v3/emails"
LIMIT = 300
SINCE_EVER = datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC)
"""Where the backfill's sweep starts (HubSpot wants a lower bound)."""
ARCHIVED = (False, True)
"""The backfill's pages: unarchived emails, then archived ones."""
_MS = timedelta(milliseconds=1)


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _flag(value: bool) -> str:
    return "true" if value else "false"


async def _sweep(
    client: HubSpot, log: logging.Logger, after: datetime, before: datetime, archived: bool
) -> AsyncIterator[MarketingEmail]:
    """The emails of one archive state updated in `(after, before)`, each once: the pass with
    statistics, then the one without for the emails it left out."""
    seen: set[int] = set()
    for stats in (True, False):
        params = {
            "limit": LIMIT,
            "sort": "updatedAt",
            "updatedAfter": _iso(after),
            "updatedBefore": _iso(before),
            "archived": _flag(archived),
            "includeStats": _flag(stats),
        }
        async for row in all_rows(client, log, PATH, params):
            email = MarketingEmail.model_validate(row)
            if email.id not in seen:
                seen.add(email.id)
                yield email


async def fetch_marketing_emails_page(
    client: HubSpot, log: logging.Logger, page: PageCursor, cutoff: LogCursor
) -> AsyncGenerator[MarketingEmail | int, None]:
    """One page of the backfill: every email of one archive state (`page` 0 or None:
    unarchived, 1: archived) updated before the cutoff, then the next page."""
    if not isinstance(cutoff, datetime):
        raise HubSpotError(f"the backfill cutoff of marketing_emails is not a time: {cutoff!r}")
    index = int(str(page or 0))
    async for email in _sweep(client, log, SINCE_EVER, cutoff, ARCHIVED[index]):
        yield email
    if index + 1 < len(ARCHIVED):
        yield index + 1


async def list_marketing_emails(
    client: HubSpot, log: logging.Logger, since: datetime, until: datetime | None
) -> AsyncIterator[Window]:
    """Emails updated in `(since, until]` (`until` None: now), carried in the listing."""
    upper = until if until is not None else client.http.clock.now()
    changes: list[Listed] = []
    for archived in ARCHIVED:
        async for email in _sweep(client, log, since, upper + _MS, archived):
            changes.append(Listed(email.updatedAt, email.id, email))
    yield Window(upper, changes)


async def probe_marketing_emails(client: HubSpot, log: logging.Logger) -> Any:
    return await first_row(client, log, PATH)
