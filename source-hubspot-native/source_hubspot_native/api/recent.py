"""The realtime stream's listing for companies, contacts, deals and engagements: HubSpot's
legacy "recently modified" APIs (hubspot.md §2.3, §3.6). They answer at once, newest first, but
stop at 10,000 rows and may show a change late (#1861), so they are the best-effort half of the
pair: the delayed stream's search reads the same window completely an hour later.

A listing stops at the first row at or before `since`, or after `MAX_IDS` rows (a burst of
changes the delayed stream will fill in); the first request asks for one row, so an idle poll
costs one small request.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .client import HubSpot, HubSpotError
from .dual import Listed, Window, parse_ts

MAX_IDS = 9_900
"""Past this many rows the recent APIs are near their 10,000-row end: stop (Estuary's bound)."""
PAGE = 100


@dataclass(frozen=True)
class RecentApi:
    """One legacy endpoint: its path, where a page's rows are, and each row's id and time."""

    path: str
    rows_key: str
    row: Callable[[dict[str, Any]], tuple[int, Any]]  # (id, last-modified as ms or ISO)
    offset_paged: bool = True  # `offset`/`hasMore`; contacts page by time and vid offsets


def _lastmod(row: dict[str, Any], id_key: str, prop: str) -> tuple[int, Any]:
    return int(row[id_key]), row["properties"][prop]["value"]


RECENT: dict[str, RecentApi] = {
    "companies": RecentApi(
        "/companies/v2/companies/recent/modified",
        "results",
        lambda r: _lastmod(r, "companyId", "hs_lastmodifieddate"),
    ),
    "deals": RecentApi(
        "/deals/v1/deal/recent/modified", "results", lambda r: _lastmod(r, "dealId", "hs_lastmodifieddate")
    ),
    "engagements": RecentApi(
        "/engagements/v1/engagements/recent/modified",
        "results",
        lambda r: (int(r["engagement"]["id"]), r["engagement"]["lastUpdated"]),
    ),
    "contacts": RecentApi(
        "/contacts/v1/lists/recently_updated/contacts/recent",
        "contacts",
        lambda r: _lastmod(r, "vid", "lastmodifieddate"),
        offset_paged=False,
    ),
}


async def recent_changes(
    client: HubSpot, api: RecentApi, log: logging.Logger, since: datetime, until: datetime | None
) -> AsyncIterator[Window]:
    """Changes in `(since, until]` the recent API shows, newest first, as one window."""
    changes: list[Listed] = []
    params: dict[str, Any] = {"count": 1}
    while True:
        body = await client.get(log, api.path, params)
        rows = body.get(api.rows_key) if isinstance(body, dict) else None
        if not isinstance(rows, list):
            raise HubSpotError(f"GET {api.path} returned no {api.rows_key} list: {str(body)[:300]}")
        done = False
        for raw in rows:
            key, stamp = api.row(raw)
            ts = parse_ts(stamp)
            if ts <= since:
                done = True
                break
            if until is None or ts <= until:
                changes.append(Listed(ts, key))
                if len(changes) >= MAX_IDS:
                    break
        if len(changes) >= MAX_IDS:
            log.info(
                "the recent changes API lists more than the realtime stream reads: the delayed stream will fill in",
                {"path": api.path, "listed": len(changes)},
            )
            done = True
        if api.offset_paged:
            more = bool(body.get("hasMore"))
            params = {"count": PAGE, "offset": body.get("offset")}
        else:
            more = bool(body.get("has-more"))
            params = {
                "count": PAGE,
                "timeOffset": body.get("time-offset"),
                "vidOffset": body.get("vid-offset"),
            }
        if done or not more or not rows:
            break
    yield Window(until if until is not None else client.http.clock.now(), changes)
