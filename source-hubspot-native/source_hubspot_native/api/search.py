"""Listing changed CRM objects through the search API, completely (hubspot.md §2.4, §3.3, §5).

The search API answers at most 10,000 results per query (a page past that is a 400), sorts
unreliably (rows out of order by up to an hour, #4595, #5180), and stamps many rows with the
same millisecond (month-end batch updates, #2100). So nothing here relies on the sort:

* a time window is read whole (all its pages) before it is handed on, and its rows are
  filtered and ordered client-side;
* a window whose `total` is over the cap is split in two by time, recursively, before any
  page past the first is asked for; a page is never asked for past the cap;
* a single millisecond holding more than the cap is drained by `hs_object_id`, then the
  listing goes on at the next millisecond.

Windows are yielded in time order, each complete up to its upper bound, so the delayed stream
checkpoints after every one of them.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .client import HubSpot, HubSpotError
from .crm_read import CrmType
from .dual import Listed, Window, from_ms, parse_ts, to_ms

RESULT_CAP = 10_000
PAGE = 200
READS_PER_WINDOW = 3


def _filters(crm: CrmType, lo: int, hi: int) -> list[dict[str, Any]]:
    if lo == hi:
        return [{"propertyName": crm.lastmod, "operator": "EQ", "value": str(lo)}]
    return [{"propertyName": crm.lastmod, "operator": "BETWEEN", "value": str(lo), "highValue": str(hi)}]


async def _page(client: HubSpot, log: logging.Logger, crm: CrmType, body: dict[str, Any]) -> dict[str, Any]:
    page = await client.search(log, crm.path, body)
    if not isinstance(page, dict) or not isinstance(page.get("results"), list):
        raise HubSpotError(f"a search of {crm.path} returned no results list: {str(page)[:300]}")
    return page


def _rows(crm: CrmType, page: dict[str, Any]) -> list[tuple[int, int]]:
    """(ms, id) of a page's rows (the last-modified time as the search shows it)."""
    out = []
    for row in page["results"]:
        props = row.get("properties") or {}
        stamp = props.get(crm.lastmod) or row.get("updatedAt")
        if stamp is None:
            raise HubSpotError(f"a search row of {crm.path} has no {crm.lastmod}: {str(row)[:300]}")
        out.append((to_ms(parse_ts(stamp)), int(row["id"])))
    return out


@dataclass
class _Read:
    """The rows of one query read page by page, and what the pages said about them."""

    rows: list[tuple[int, int]]
    capped: bool
    """Rows remain that no page may reach (past the cap)."""
    stable: bool
    """Every page reported the same total. Offset paging over a set that changes while it is
    read shifts rows between pages (a row modified meanwhile leaves the window, the rows after
    it move up a slot, one of them is never on a page), so a query whose total moved is read
    again."""


async def _read_all(
    client: HubSpot, log: logging.Logger, crm: CrmType, body: dict[str, Any], first: dict[str, Any]
) -> _Read:
    """Every row of a query whose first page is `first`, up to the cap."""
    rows = _rows(crm, first)
    totals = {int(first.get("total") or 0)}
    page = first
    while True:
        following = ((page.get("paging") or {}).get("next") or {}).get("after")
        if following is None or int(following) + PAGE > RESULT_CAP:
            break
        page = await _page(client, log, crm, {**body, "after": int(following)})
        totals.add(int(page.get("total") or 0))
        rows += _rows(crm, page)
    total = int(page.get("total") or 0)
    return _Read(rows, total > len(rows) and len(rows) + PAGE > RESULT_CAP, len(totals) == 1)


async def _drain_millisecond(
    client: HubSpot, log: logging.Logger, crm: CrmType, ms: int
) -> AsyncIterator[list[tuple[int, int]]]:
    """Every row stamped `ms`, by ascending id, in runs of at most the cap."""
    last_id = 0
    while True:
        body: dict[str, Any] = {
            "filters": [
                *_filters(crm, ms, ms),
                {"propertyName": "hs_object_id", "operator": "GT", "value": str(last_id)},
            ],
            "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
            "limit": PAGE,
        }
        read = await _read_all(client, log, crm, body, await _page(client, log, crm, {**body, "after": 0}))
        rows = [r for r in read.rows if r[0] == ms and r[1] > last_id]
        if rows:
            yield rows
        if not read.capped or not rows:
            return
        last_id = max(r[1] for r in rows)


def _split_points(lo: int, hi: int, first: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Halves of `[lo, hi]`, in order; when the first page sits in one millisecond (a batch
    update's cluster), that millisecond gets a window of its own so it is drained at once."""
    stamps = {ts for ts, _ in first}
    if len(stamps) == 1:
        (ts,) = stamps
        if lo <= ts <= hi:
            parts = [(lo, ts - 1), (ts, ts), (ts + 1, hi)]
            return [(a, b) for a, b in parts if a <= b]
    mid = (lo + hi) // 2
    return [(lo, mid), (mid + 1, hi)]


async def search_changes(
    client: HubSpot, crm: CrmType, log: logging.Logger, since: datetime, until: datetime | None
) -> AsyncIterator[Window]:
    """The changes of `crm` in `(since, until]` (`until` None: now), as complete windows in
    time order."""
    lo = to_ms(since) + 1
    hi = to_ms(until if until is not None else client.http.clock.now())
    pending = [(lo, hi)]
    while pending:
        a, b = pending.pop()
        if a > b:
            continue
        body: dict[str, Any] = {
            "filters": _filters(crm, a, b),
            "sorts": [{"propertyName": crm.lastmod, "direction": "ASCENDING"}],
            "limit": PAGE,
        }
        first = await _page(client, log, crm, {**body, "after": 0})
        total = int(first.get("total") or 0)
        if total > RESULT_CAP and a < b:
            pending.extend(reversed(_split_points(a, b, _rows(crm, first))))
            continue
        if total > RESULT_CAP:
            log.info(
                "draining a millisecond that holds more rows than one search can list",
                {"object": crm.path, "ms": a, "rows": total},
            )
            async for run in _drain_millisecond(client, log, crm, a):
                yield Window(from_ms(a - 1), [Listed(from_ms(ts), rid) for ts, rid in run])
            yield Window(from_ms(b))
            continue
        read = await _read_window(client, log, crm, body, first)
        if read.capped:  # the window grew past the cap while it was read: split it after all
            pending.extend(reversed(_split_points(a, b, read.rows[:PAGE])) if a < b else [(a, b)])
            continue
        yield Window(from_ms(b), [Listed(from_ms(ts), rid) for ts, rid in read.rows if a <= ts <= b])


async def _read_window(
    client: HubSpot, log: logging.Logger, crm: CrmType, body: dict[str, Any], first: dict[str, Any]
) -> _Read:
    """A window's rows, read again (up to `READS_PER_WINDOW` times, their union kept) while its
    total moves under the paging."""
    read = await _read_all(client, log, crm, body, first)
    seen = set(read.rows)
    attempt = 1
    while not read.stable and not read.capped and attempt < READS_PER_WINDOW:
        attempt += 1
        read = await _read_all(client, log, crm, body, await _page(client, log, crm, {**body, "after": 0}))
        seen.update(read.rows)
    if not read.stable:
        log.info("a search window kept changing while it was read", {"object": crm.path, "reads": attempt})
    return _Read(sorted(seen), read.capped, read.stable)
