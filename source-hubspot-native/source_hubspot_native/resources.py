"""All of the connector's resources (one per binding), for discover, validate and open."""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import Any

from estuary_cdk.capture.common import Resource
from estuary_cdk.http import HTTPSession, TokenSource

from .api.client import PRIVATE_APP_BUDGET, PUBLIC_APP_BUDGET, HubSpot
from .api.email_events import probe_email_events
from .api.objects import available_types
from .api.properties import Properties
from .config import EndpointConfig, OAuth2Credentials, token_spec
from .crm import crm_resource, document_schema
from .email_events import email_events_resource
from .scopes import granted
from .snapshots import listings, property_listing, readable_listings, snapshot_resource
from .streams import stream_resources


def connect(http: HTTPSession, config: EndpointConfig) -> HubSpot:
    """The client of `config`'s account: OAuth2 refresh against the configured base URL's token
    endpoint, or the private app's static token; paced at the burst limit of its kind of app
    (hubspot.md §4.1) until HubSpot's headers say otherwise."""
    if isinstance(config.credentials, OAuth2Credentials):
        http.token_source = TokenSource(
            oauth_spec=token_spec(config.base_url), credentials=config.credentials
        )
        return HubSpot(http, config.base_url, PUBLIC_APP_BUDGET)
    http.token_source = TokenSource(oauth_spec=None, credentials=config.credentials)
    return HubSpot(http, config.base_url, PRIVATE_APP_BUDGET)


async def all_resources(
    log: logging.Logger, http: HTTPSession, config: EndpointConfig, with_schemas: bool = False
) -> list[Resource[Any, Any, Any]]:
    """Every binding the account offers: its CRM object types, email events, the snapshot
    listings, then the other change streams (streams.py).
    `with_schemas` (discover) spells out each CRM type's properties in its collection's schema;
    open and validate need only the names."""
    client = connect(http, config)
    properties = Properties(client)
    types = await available_types(client, log, config.useLegacyNamingForCustomObjects)
    schemas: list[dict[str, Any] | None] = [None] * len(types)
    if with_schemas:
        defs = await asyncio.gather(*(properties.of(log, t.path) for t in types))
        schemas = [document_schema(t, d) for t, d in zip(types, defs, strict=True)]
    lag = config.advanced.delayed_lag
    crm = [
        crm_resource(client, properties, t, config.capturePropertyHistory, lag, http.clock, schema)
        for t, schema in zip(types, schemas, strict=True)
    ]
    streams = []
    if await granted(log, "email_events", functools.partial(probe_email_events, client, log)):
        streams.append(email_events_resource(client, lag, http.clock))
    snapshots = await readable_listings(client, log, [*listings(), property_listing(properties, types)])
    more = await stream_resources(client, properties, log, lag, http.clock)
    return [*crm, *streams, *(snapshot_resource(client, s) for s in snapshots), *more]
