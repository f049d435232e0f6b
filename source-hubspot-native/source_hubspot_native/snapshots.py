"""Snapshot bindings: small listings with no usable change cursor (owners, deal pipelines,
forms, marketing events and their participants, property definitions), captured whole every
interval and keyed on `/_meta/row_id`. The engine emits a snapshot only when it changed and
deletes rows that vanished with tombstones (hubspot.md §2.1)."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from estuary_cdk.capture.common import BaseDocument, SnapshotResource

from . import models
from .api.client import HubSpot
from .api.crm_read import CrmType
from .api.listing import all_rows, first_row
from .api.properties import Properties
from .models import ResourceConfig
from .opening import opener
from .scopes import granted

Rows = Callable[[HubSpot, logging.Logger], AsyncGenerator[dict[str, Any], None]]


@dataclass(frozen=True)
class Listing:
    """A snapshot binding: its rows, and how discovery checks the credentials may read them."""

    name: str
    model: type[BaseDocument]
    interval: timedelta
    rows: Rows
    probe: Callable[[HubSpot, logging.Logger], Awaitable[Any]]
    params: dict[str, Any] = field(default_factory=dict)


def _plain(
    path: str, params: dict[str, Any] | None = None
) -> tuple[Rows, Callable[[HubSpot, logging.Logger], Awaitable[Any]]]:
    """Rows and probe of one listing endpoint."""

    async def rows(client: HubSpot, log: logging.Logger) -> AsyncGenerator[dict[str, Any], None]:
        async for row in all_rows(client, log, path, params):
            yield row

    async def probe(client: HubSpot, log: logging.Logger) -> Any:
        return await first_row(client, log, path, {k: v for k, v in (params or {}).items() if k != "limit"})

    return rows, probe


async def _pipelines(client: HubSpot, log: logging.Logger) -> AsyncGenerator[dict[str, Any], None]:
    """Deal pipelines: one unpaged response."""
    async for row in all_rows(client, log, "/crm-pipelines/v1/pipelines/deals"):
        yield row


async def _pipelines_probe(client: HubSpot, log: logging.Logger) -> Any:
    return await client.get(log, "/crm-pipelines/v1/pipelines/deals")


_EVENTS = "/marketing/v3/marketing-events"


async def _participants(client: HubSpot, log: logging.Logger) -> AsyncGenerator[dict[str, Any], None]:
    """Every marketing event's participation breakdown, the event's id added to each row."""
    events = [
        str(e["objectId"]) async for e in all_rows(client, log, _EVENTS, {"limit": 100}) if e.get("objectId")
    ]
    for event in events:
        path = f"{_EVENTS}/participations/{event}/breakdown"
        async for row in all_rows(client, log, path, {"limit": 100}):
            yield {**row, "marketingEventId": event}


async def _participants_probe(client: HubSpot, log: logging.Logger) -> Any:
    event = await first_row(client, log, _EVENTS)
    if event is not None and event.get("objectId"):
        await first_row(client, log, f"{_EVENTS}/participations/{event['objectId']}/breakdown")


def listings() -> list[Listing]:
    five = timedelta(minutes=5)
    owners = _plain("/crm/v3/owners", {"limit": 500})
    forms = _plain("/marketing/v3/forms", {"limit": 500, "formTypes": "all"})
    events = _plain(_EVENTS, {"limit": 100})
    return [
        Listing("owners", models.Owner, five, *owners),
        Listing("deal_pipelines", models.DealPipeline, five, _pipelines, _pipelines_probe),
        Listing("forms", models.Form, five, *forms),
        Listing("marketing_events", models.MarketingEvent, five, *events),
        Listing("marketing_event_participants", models.MarketingEventParticipant, timedelta(minutes=15),
                _participants, _participants_probe),
    ]  # fmt: skip


def property_listing(properties: Properties, types: list[CrmType]) -> Listing:
    """Every CRM type's property definitions, each with the type it belongs to. The types are
    read at once: one after the other, each waits its turn among the change streams' requests,
    and the snapshot took 20 s against the fake."""

    async def rows(client: HubSpot, log: logging.Logger) -> AsyncGenerator[dict[str, Any], None]:
        defs = await asyncio.gather(*(properties.of(log, crm.path, fresh=True) for crm in types))
        for crm, props in zip(types, defs, strict=True):
            for prop in props:
                yield {**prop.raw, "hubspotObject": crm.binding}

    async def probe(client: HubSpot, log: logging.Logger) -> Any:
        return None  # the CRM types were read with the same scopes

    return Listing("properties", models.Property, timedelta(days=1), rows, probe)


async def readable_listings(client: HubSpot, log: logging.Logger, candidates: list[Listing]) -> list[Listing]:
    """The listings the credentials may read; those lacking a scope are left out with a log line."""
    return [
        listing
        for listing in candidates
        if await granted(log, listing.name, functools.partial(listing.probe, client, log))
    ]


def snapshot_resource(client: HubSpot, listing: Listing) -> SnapshotResource[Any, ResourceConfig]:
    async def fetch(log: logging.Logger) -> AsyncGenerator[BaseDocument, None]:
        async for row in listing.rows(client, log):
            yield listing.model.model_validate(row)

    return SnapshotResource(
        name=listing.name,
        model=listing.model,
        open=opener(fetch_snapshot=fetch),
        initial_config=ResourceConfig(name=listing.name, interval=listing.interval),
    )
