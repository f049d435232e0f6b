"""The backfill of a CRM object type: pages of `GET /crm/v3/objects/{type}` with their inline
associations, each page requested once per chunk of property names (hubspot.md §2.3, §5).

A page's chunks are merged by id. A row whose `updatedAt` differs between chunks was modified
while the page was read: its chunks are of different versions, so it is left out, and the
incremental streams (whose cursors began before this backfill did) capture it. So is a row
modified at or after the cutoff, and a row missing from one of the chunks (deleted meanwhile).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable
from datetime import datetime
from typing import Any

from estuary_cdk.capture.common import LogCursor, PageCursor

from ..models import CRMObject
from .client import HubSpot, HubSpotError
from .crm_read import CrmType
from .properties import PROPERTY_CHUNK_BYTES, Properties, chunk_names

PAGE_SIZE = 100
HISTORY_PAGE_SIZE = 50


def inline_associations(row: dict[str, Any], target: str) -> list[int]:
    """The ids of a v3 row's inline `associations.{target}`, once each: v3 lists an id once per
    association type (labeled and unlabeled), v4 once, and a document must not depend on which
    of the two read it."""
    results = ((row.get("associations") or {}).get(target) or {}).get("results") or []
    return list(dict.fromkeys(int(r["id"]) for r in results))


async def _get_chunk(
    client: HubSpot,
    log: logging.Logger,
    crm: CrmType,
    names: list[str],
    params: dict[str, Any],
    with_history: bool,
) -> dict[str, Any]:
    query = {**params, "properties": ",".join(names)}
    if with_history:
        query["propertiesWithHistory"] = query["properties"]
    body = await client.get(log, f"/crm/v3/objects/{crm.path}", query)
    if not isinstance(body, dict) or not isinstance(body.get("results"), list):
        raise HubSpotError(f"a page of {crm.path} has no results: {str(body)[:300]}")
    return body


Fetch = Callable[[Any, Callable[[dict[str, Any]], None]], Awaitable[list[dict[str, Any]]]]
"""Reads one page: `fetch(cursor, first)` returns the bodies of its property chunks, and calls
`first(body)` as soon as the first chunk's body (the one whose cursor is the page's) is in."""


def next_cursor(body: dict[str, Any]) -> str | None:
    following = ((body.get("paging") or {}).get("next") or {}).get("after")
    return str(following) if following else None


class _Read:
    """One page asked for: its task, and the next page's cursor once its first chunk is in."""

    def __init__(
        self, key: tuple[Any, ...], fetch: Fetch, page: Any, on_cursor: Callable[[_Read], None]
    ) -> None:
        self.key = (*key, page)
        self.known = False
        self.cursor: str | None = None
        self.armed = False  # the page is being read: its successor may be asked for
        self._on_cursor = on_cursor
        self.task = asyncio.ensure_future(fetch(page, self._first))

    def _first(self, body: dict[str, Any]) -> None:
        if not self.known:
            self.known, self.cursor = True, next_cursor(body)
            self._on_cursor(self)


class PageReader:
    """Reads a backfill's pages one ahead. While a page is read, the next page (whose cursor its
    first chunk carries) is asked for as soon as that chunk is in, so the next page's requests
    are in flight while this page's other chunks arrive and while it is merged, validated and
    emitted: the backfill does not alternate between waiting for HubSpot and working on its
    answer (the list cursor is opaque, so pages cannot be asked for further ahead). At most one
    page waits ahead; one left behind (the task stopped) is cancelled on the next read of
    another page."""

    def __init__(self) -> None:
        self._ahead: _Read | None = None

    def _start(self, key: tuple[Any, ...], fetch: Fetch, page: Any) -> _Read:
        def on_cursor(read: _Read) -> None:
            if read.armed:
                self._follow(read, key, fetch)

        return _Read(key, fetch, page, on_cursor)

    def _follow(self, read: _Read, key: tuple[Any, ...], fetch: Fetch) -> None:
        if read.cursor is not None and self._ahead is None:
            self._ahead = self._start(key, fetch, read.cursor)

    async def read(self, key: tuple[Any, ...], fetch: Fetch, page: PageCursor) -> list[dict[str, Any]]:
        """The bodies of `page` (prefetched if it was the page read ahead); the next page is
        asked for as soon as this one's first chunk is in."""
        ahead, self._ahead = self._ahead, None
        if ahead is not None and ahead.key == (*key, page):
            current = ahead
        else:
            if ahead is not None:
                ahead.task.cancel()
            current = self._start(key, fetch, page)
        current.armed = True
        if current.known:
            self._follow(current, key, fetch)
        return await current.task

    def close(self) -> None:
        """Cancel the page read ahead, if any (its backfill stopped)."""
        if self._ahead is not None:
            self._ahead.task.cancel()
        self._ahead = None


async def fetch_crm_page(
    client: HubSpot,
    properties: Properties,
    crm: CrmType,
    with_history: bool,
    reader: PageReader,
    log: logging.Logger,
    page: PageCursor,
    cutoff: LogCursor,
    is_connector_initiated: bool = False,
) -> AsyncGenerator[CRMObject | str, None]:
    """One page of the backfill, then the next page's cursor. A backfill the refresh schedule
    started (`is_connector_initiated`) reads only the calculated properties, whose changes do not
    move the last-modified time (hubspot.md §2.2); the collection's merge reduction folds these
    partial documents into the whole ones."""
    if not isinstance(cutoff, datetime):
        raise HubSpotError(f"the backfill cutoff of {crm.binding} is not a time: {cutoff!r}")
    names = await properties.names(log, crm.path, calculated_only=is_connector_initiated)
    if is_connector_initiated and not names:
        log.info("no calculated properties to refresh", {"object": crm.path})
        return
    budget = PROPERTY_CHUNK_BYTES // 2 if with_history else PROPERTY_CHUNK_BYTES
    chunks = chunk_names(names, budget)

    async def fetch(at: PageCursor, first: Callable[[dict[str, Any]], None]) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"limit": HISTORY_PAGE_SIZE if with_history else PAGE_SIZE}
        if at is not None:
            params["after"] = str(at)
        first_params = dict(params)
        if crm.associations and not is_connector_initiated:
            first_params["associations"] = ",".join(crm.associations)

        async def chunk(i: int, names: list[str]) -> dict[str, Any]:
            body = await _get_chunk(client, log, crm, names, first_params if i == 0 else params, with_history)
            if i == 0:
                first(body)
            return body

        return list(await asyncio.gather(*(chunk(i, c) for i, c in enumerate(chunks))))

    bodies = await reader.read((cutoff, is_connector_initiated, tuple(names)), fetch, page)
    others = [{row["id"]: row for row in body["results"]} for body in bodies[1:]]
    dropped = 0
    for row in bodies[0]["results"]:
        # A turn of the event loop per row merged, so the next page's requests go out (and their
        # answers come in) while this page is worked on rather than after it.
        await asyncio.sleep(0)
        merged, consistent = dict(row.get("properties") or {}), True
        history = dict(row.get("propertiesWithHistory") or {})
        for other in others:
            twin = other.get(row["id"])
            if twin is None or twin.get("updatedAt") != row.get("updatedAt"):
                consistent = False
                break
            merged.update(twin.get("properties") or {})
            history.update(twin.get("propertiesWithHistory") or {})
        if not consistent:
            dropped += 1
            continue
        raw = {k: v for k, v in row.items() if k not in ("associations", "propertiesWithHistory")}
        raw["properties"] = merged
        if with_history:
            raw["propertiesWithHistory"] = history
        doc = crm.model.model_validate(raw)
        if doc.updatedAt >= cutoff:
            continue
        if not is_connector_initiated:
            for target in crm.associations:
                setattr(doc, target, inline_associations(row, target))
        yield doc
    if dropped:
        log.info(
            "rows modified while their page was read are left to the incremental streams",
            {"object": crm.path, "rows": dropped},
        )
    following = next_cursor(bodies[0])
    if following:
        yield following
