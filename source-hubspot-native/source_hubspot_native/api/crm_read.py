"""Reading CRM objects by id: a batch read of their properties and, concurrently, one v4
association batch read per associated object type (hubspot.md §2.3, §3.2, §3.4).

Ids deleted between listing and reading come back as `OBJECT_NOT_FOUND` errors of a 207 and
are skipped; association targets past the first page are followed (Estuary reads the first
page only, #90f766d88: an object with more than 500 associated contacts would lose the rest).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from estuary_cdk.buffer_ordered import buffer_ordered

from ..models import CRMObject
from .client import HubSpot, HubSpotError
from .properties import Properties

BATCH_SIZE = 100
HISTORY_BATCH_SIZE = 50
"""HubSpot reads at most 100 ids per batch, 50 when property history is asked for (054ae2956)."""
BATCHES_IN_FLIGHT = 3


@dataclass(frozen=True)
class CrmType:
    """A CRM object type as the connector captures it."""

    binding: str  # the binding's name: contacts, custom_cars
    path: str  # the API's path component: contacts, p_cars
    model: type[CRMObject]
    lastmod: str  # the last-modified property: lastmodifieddate for contacts

    @property
    def associations(self) -> tuple[str, ...]:
        return self.model.ASSOCIATIONS


def check_batch(body: Any, what: str) -> list[dict[str, Any]]:
    """The results of a batch response; errors other than a missing id are HubSpot's
    failure, not data to skip."""
    if not isinstance(body, dict) or body.get("status") != "COMPLETE":
        raise HubSpotError(f"{what}: the batch did not complete: {str(body)[:300]}")
    for error in body.get("errors") or []:
        if not isinstance(error, dict) or error.get("category") != "OBJECT_NOT_FOUND":
            raise HubSpotError(f"{what}: the batch reported an error: {str(error)[:300]}")
    results = body.get("results")
    if not isinstance(results, list):
        raise HubSpotError(f"{what}: no results in {str(body)[:300]}")
    return results


async def read_associations(
    client: HubSpot, log: logging.Logger, source: str, target: str, ids: Sequence[int]
) -> dict[int, list[int]]:
    """Every associated `target` id of each of `ids`, in HubSpot's order, all pages."""
    found: dict[int, list[int]] = {}
    inputs: list[dict[str, str]] = [{"id": str(i)} for i in ids]
    while inputs:
        body = await client.post(
            log, f"/crm/v4/associations/{source}/{target}/batch/read", {"inputs": inputs}
        )
        inputs = []
        for row in check_batch(body, f"associations {source} -> {target}"):
            source_id = int(row["from"]["id"])
            found.setdefault(source_id, []).extend(int(t["toObjectId"]) for t in row.get("to") or [])
            following = ((row.get("paging") or {}).get("next") or {}).get("after")
            if following:
                inputs.append({"id": str(source_id), "after": str(following)})
    return found


async def read_objects(
    client: HubSpot,
    properties: Properties,
    crm: CrmType,
    log: logging.Logger,
    ids: Sequence[int],
    with_history: bool,
) -> list[CRMObject]:
    """The objects of `ids` (at most one batch) with every property and their associations;
    ids that no longer exist are left out."""
    names = await properties.names(log, crm.path)
    request: dict[str, Any] = {"inputs": [{"id": str(i)} for i in ids], "properties": names}
    if with_history:
        request["propertiesWithHistory"] = names
    reads: list[Awaitable[Any]] = [client.post(log, f"/crm/v3/objects/{crm.path}/batch/read", request)]
    reads += [read_associations(client, log, crm.path, target, ids) for target in crm.associations]
    body, *linked = await asyncio.gather(*reads)
    by_id: dict[int, CRMObject] = {}
    for raw in check_batch(body, f"batch read of {crm.path}"):
        doc = crm.model.model_validate(raw)
        for target, found in zip(crm.associations, linked, strict=True):
            setattr(doc, target, found.get(doc.id, []))
        by_id[doc.id] = doc
    missing = len(ids) - len(by_id)
    if missing:
        log.debug(
            "ids gone between listing and reading (deleted): skipped", {"object": crm.path, "count": missing}
        )
    return [by_id[i] for i in ids if i in by_id]


async def read_in_batches(
    client: HubSpot,
    properties: Properties,
    crm: CrmType,
    log: logging.Logger,
    ids: Iterable[int],
    with_history: bool,
) -> AsyncIterator[list[CRMObject]]:
    """`read_objects` over `ids` in batches, `BATCHES_IN_FLIGHT` at once, in order."""
    size = HISTORY_BATCH_SIZE if with_history else BATCH_SIZE
    ordered = list(ids)

    async def batches() -> AsyncIterator[Awaitable[list[CRMObject]]]:
        for start in range(0, len(ordered), size):
            yield read_objects(client, properties, crm, log, ordered[start : start + size], with_history)

    async for docs in buffer_ordered(batches(), BATCHES_IN_FLIGHT):
        yield docs
