"""The resource of a CRM object type: a backfill of its list API, and the realtime + delayed
pair of change streams (hubspot.md §2.3, §2.4), with associations. Realtime reads the legacy
recent-changes API of companies, contacts, deals and engagements, the search API for the other
types; delayed always reads the search API, completely."""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

from estuary_cdk.capture.common import (
    ReductionStrategy,
    Resource,
    ResourceState,
)
from estuary_cdk.http import Clock

from .api import dual
from .api.client import HubSpot
from .api.crm_backfill import PageReader, fetch_crm_page
from .api.crm_read import CrmType, read_in_batches
from .api.properties import Properties, PropertyInfo, properties_schema, sourced_schema
from .api.recent import RECENT, recent_changes
from .api.search import search_changes
from .dual_binding import dual_open, initial_state
from .models import ResourceConfig

DEFAULT_SCHEDULE = "55 23 * * *"
"""When calculated properties are refreshed by default: once a day (hubspot.md §2.2)."""


def document_schema(crm: CrmType, properties: list[PropertyInfo]) -> dict[str, Any]:
    """The model's schema with the account's properties spelt out under `properties`, so a
    collection knows every property (custom and calculated ones too) before it sees a row."""
    schema = crm.model.model_json_schema(mode="serialization")
    props = schema["properties"]["properties"]
    props["properties"] = properties_schema(properties)
    props["additionalProperties"] = {"type": ["string", "null"]}
    return schema


def crm_resource(
    client: HubSpot,
    properties: Properties,
    crm: CrmType,
    with_history: bool,
    lag: timedelta,
    clock: Clock,
    schema: dict[str, Any] | None,
) -> Resource[Any, ResourceConfig, ResourceState]:
    """The binding of `crm`. `schema` (known at discover) is the collection's; at open the
    model's is enough."""

    def lister(log: logging.Logger, since: datetime, until: datetime | None) -> AsyncIterator[dual.Window]:
        return search_changes(client, crm, log, since, until)

    recent = RECENT.get(crm.path)

    def realtime_lister(
        log: logging.Logger, since: datetime, until: datetime | None
    ) -> AsyncIterator[dual.Window]:
        """The legacy recent API where HubSpot has one (fast, unindexed), else the search."""
        if recent is None:
            return search_changes(client, crm, log, since, until)
        return recent_changes(client, recent, log, since, until)

    async def sourced(log: logging.Logger) -> dict[str, Any]:
        """The account's properties as they are at open: the collection's schema knows every
        one (1,000+ in some accounts, past what inference keeps) before a row carries it."""
        return sourced_schema(await properties.of(log, crm.path))

    async def hydrate(log: logging.Logger, changes: list[dual.Listed]) -> AsyncIterator[list[Any]]:
        async for docs in read_in_batches(
            client, properties, crm, log, [int(c.key) for c in changes], with_history
        ):
            yield docs

    open = dual_open(
        crm.binding,
        functools.partial(fetch_crm_page, client, properties, crm, with_history, PageReader()),
        realtime_lister,
        lister,
        hydrate,
        clock,
        lag,
        sourced,
    )

    return Resource(
        name=crm.binding,
        key=["/id"],
        model=Resource.FixedSchema(schema) if schema is not None else crm.model,
        open=open,
        initial_state=initial_state(clock.now(), lag),
        initial_config=ResourceConfig(name=crm.binding, interval=timedelta(0), schedule=DEFAULT_SCHEDULE),
        schema_inference=True,
        reduction_strategy=ReductionStrategy.MERGE,
    )
