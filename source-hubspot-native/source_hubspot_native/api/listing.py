"""Reading every row of HubSpot's small listing endpoints (owners, pipelines, forms, marketing
events and their participants, property definitions): the rows a snapshot binding captures."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any

from .client import HubSpot, HubSpotError


async def all_rows(
    client: HubSpot, log: logging.Logger, path: str, params: Mapping[str, Any] | None = None
) -> AsyncIterator[dict[str, Any]]:
    """The `results` of `path`, following `paging.next.after` until the last page."""
    query = dict(params or {})
    while True:
        body = await client.get(log, path, query)
        results = body.get("results") if isinstance(body, dict) else None
        if not isinstance(results, list):
            raise HubSpotError(f"GET {path} returned no results list: {str(body)[:300]}")
        for row in results:
            if isinstance(row, dict):
                yield row
        following = ((body.get("paging") or {}).get("next") or {}).get("after")
        if following is None:
            return
        query["after"] = str(following)


async def first_row(
    client: HubSpot, log: logging.Logger, path: str, params: Mapping[str, Any] | None = None
) -> dict[str, Any] | None:
    """The first row of `path` (one page of one row): what discovery probes a scope with."""
    async for row in all_rows(client, log, path, {**(params or {}), "limit": 1}):
        return row
    return None
