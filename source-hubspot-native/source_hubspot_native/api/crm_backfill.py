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


class PageReader:
    """Reads a backfill's pages one ahead: once a page's bodies are in, the next page (whose
    cursor they carry) is asked for while this one is merged, validated and emitted, so the
    backfill is not a strict alternation of waiting for HubSpot and working on its answer.
    At most one page waits ahead; one left behind (the task stopped) is cancelled on the next
    read of another page."""

    def __init__(self) -> None:
        self._ahead: tuple[tuple[Any, ...], asyncio.Task[list[dict[str, Any]]]] | None = None

    async def read(
        self, key: tuple[Any, ...], fetch: Callable[[Any], Awaitable[list[dict[str, Any]]]], page: PageCursor
    ) -> list[dict[str, Any]]:
        """The bodies of `page` (prefetched if it was the page read ahead), and the next page
        started."""
        ahead, self._ahead = self._ahead, None
        if ahead is not None and ahead[0] == (*key, page):
            bodies = await ahead[1]
        else:
            if ahead is not None:
                ahead[1].cancel()
            bodies = await fetch(page)
        following = ((bodies[0].get("paging") or {}).get("next") or {}).get("after")
        if following:
            self._ahead = ((*key, str(following)), asyncio.ensure_future(fetch(str(following))))
        return bodies

    def close(self) -> None:
        """Cancel the page read ahead, if any (its backfill stopped)."""
        if self._ahead is not None:
            self._ahead[1].cancel()
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

    async def fetch(at: PageCursor) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"limit": HISTORY_PAGE_SIZE if with_history else PAGE_SIZE}
        if at is not None:
            params["after"] = str(at)
        first_params = dict(params)
        if crm.associations and not is_connector_initiated:
            first_params["associations"] = ",".join(crm.associations)
        return list(
            await asyncio.gather(
                *(
                    _get_chunk(client, log, crm, c, first_params if i == 0 else params, with_history)
                    for i, c in enumerate(chunks)
                )
            )
        )

    bodies = await reader.read((cutoff, is_connector_initiated, tuple(names)), fetch, page)
    others = [{row["id"]: row for row in body["results"]} for body in bodies[1:]]
    dropped = 0
    for row in bodies[0]["results"]:
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
    following = ((bodies[0].get("paging") or {}).get("next") or {}).get("after")
    if following:
        yield str(following)
