"""The account's property definitions: fetched once per object type and process, split into
URL-sized chunks for list requests, and turned into the JSON schema of `properties`
(hubspot.md §2.2, §3.5)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from .client import HubSpot, HubSpotError

PROPERTY_CHUNK_BYTES = 6000
"""The most URL-encoded bytes of property names one list request carries. HubSpot (behind its
load balancers) refuses long URLs with a 414 (Airbyte saw it with many properties; Estuary
chunks at 5 KiB): with the path and the other parameters this keeps a request under 8 KB."""


@dataclass(frozen=True)
class PropertyInfo:
    name: str
    type: str
    calculated: bool
    raw: dict[str, Any]


class Properties:
    """Property definitions per object type (`contacts`, `p_cars`), fetched once: HubSpot
    accounts change them rarely, and a capture restarts at least daily (its refresh schedule)."""

    def __init__(self, client: HubSpot) -> None:
        self.client = client
        self._cache: dict[str, list[PropertyInfo]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def of(self, log: logging.Logger, object_path: str, fresh: bool = False) -> list[PropertyInfo]:
        """The definitions of `object_path`'s properties; `fresh` reads them again (the
        `properties` binding's snapshot), and what it reads is what later reads use."""
        lock = self._locks.setdefault(object_path, asyncio.Lock())
        async with lock:
            cached = None if fresh else self._cache.get(object_path)
            if cached is None:
                body = await self.client.get(log, f"/crm/v3/properties/{object_path}")
                results = body.get("results") if isinstance(body, dict) else None
                if not isinstance(results, list):
                    raise HubSpotError(
                        f"the properties of {object_path} are not a list of results: {str(body)[:200]}"
                    )
                cached = [
                    PropertyInfo(str(p["name"]), str(p.get("type", "string")), bool(p.get("calculated")), p)
                    for p in results
                    if isinstance(p, dict) and p.get("name")
                ]
                self._cache[object_path] = cached
            return cached

    async def names(self, log: logging.Logger, object_path: str, calculated_only: bool = False) -> list[str]:
        return [p.name for p in await self.of(log, object_path) if p.calculated or not calculated_only]


def chunk_names(names: list[str], budget: int = PROPERTY_CHUNK_BYTES) -> list[list[str]]:
    """`names` in order, cut so that each chunk's comma-joined, URL-encoded form fits `budget`
    bytes (a single longer name gets a chunk of its own)."""
    chunks: list[list[str]] = [[]]
    size = 0
    for name in names:
        cost = len(quote(name, safe="")) + (3 if chunks[-1] else 0)
        if chunks[-1] and size + cost > budget:
            chunks.append([])
            size, cost = 0, cost - 3
        chunks[-1].append(name)
        size += cost
    return [c for c in chunks if c]


def properties_schema(properties: list[PropertyInfo]) -> dict[str, Any]:
    """The schema of a CRM object's `properties`: every property is a string or null (HubSpot
    sends all values as strings); numbers are strings in integer format when HubSpot says
    number, dates and datetimes are left unformatted (some are ISO, some epoch ms)."""
    out: dict[str, Any] = {}
    for prop in properties:
        schema: dict[str, Any] = {"type": ["string", "null"]}
        if prop.type == "number":
            schema["format"] = "number"
        out[prop.name] = schema
    return out


def sourced_schema(properties: list[PropertyInfo]) -> dict[str, Any]:
    """The `sourcedSchema` of a CRM binding: its documents' known shape, so schema inference
    does not squash an account's 1,000+ properties (hubspot.md §2.2)."""
    return {
        "type": "object",
        "properties": {
            "properties": {"type": "object", "properties": properties_schema(properties)},
        },
    }
