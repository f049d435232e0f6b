"""The connector's API layer in-process against a fake HubSpot served in the test's event
loop, on one `FakeClock` shared by both: the fake's server time and the connector's clock move
together, sleeps (rate-limit spacing, backoffs, the delayed stream's lag) take no real time."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from estuary_cdk.http import HTTPMixin
from estuary_cdk.testing import FakeClock, LocalServer, open_http_session, serve_app
from fake_hubspot import FakeHubSpot, make_app
from flow import PRIVATE_APP
from source_hubspot_native.api import dual
from source_hubspot_native.api.client import HubSpot
from source_hubspot_native.api.crm_backfill import PageReader, fetch_crm_page
from source_hubspot_native.api.objects import STANDARD_TYPES
from source_hubspot_native.api.properties import Properties
from source_hubspot_native.api.search import search_changes
from source_hubspot_native.config import EndpointConfig
from source_hubspot_native.models import CRMObject
from source_hubspot_native.resources import connect

LOG = logging.getLogger("test")
TYPES = {t.binding: t for t in STANDARD_TYPES}


@dataclass
class Connected:
    fake: FakeHubSpot
    server: LocalServer
    http: HTTPMixin
    client: HubSpot
    properties: Properties
    clock: FakeClock

    def requests(self, path: str, method: str | None = None) -> list[Any]:
        return self.server.requests.matching(path, method)


def endpoint_config(url: str, credentials: dict[str, Any] | None = None, **extra: Any) -> EndpointConfig:
    return EndpointConfig.model_validate(
        {
            "credentials": credentials or PRIVATE_APP,
            "advanced": {"base_url": url, "delayed_lag": "PT5S"},
            **extra,
        }
    )


@asynccontextmanager
async def connected(
    fake_factory: Any = None, credentials: dict[str, Any] | None = None, clock: FakeClock | None = None
) -> AsyncIterator[Connected]:
    """A fake (built by `fake_factory(clock)`, default the small data set) and the connector's
    client of it."""
    clock = clock or FakeClock()
    fake = fake_factory(clock) if fake_factory is not None else FakeHubSpot(seed=7, clock=clock)
    async with serve_app(make_app(fake)) as server, open_http_session(LOG, clock=clock) as http:
        client = connect(http, endpoint_config(server.url, credentials))
        yield Connected(fake, server, http, client, Properties(client), clock)


async def collect(gen: AsyncIterator[Any]) -> list[Any]:
    return [item async for item in gen]


async def backfill(
    c: Connected, binding: str, cutoff: datetime, log: logging.Logger = LOG, **kw: Any
) -> tuple[list[CRMObject], list[str]]:
    """Every page of a binding's backfill (logging to `log`): its documents and its page cursors."""
    docs: list[CRMObject] = []
    pages: list[str] = []
    page: str | None = None
    reader = PageReader()
    while True:
        out = await collect(
            fetch_crm_page(c.client, c.properties, TYPES[binding], False, reader, log, page, cutoff, **kw)
        )
        docs += [d for d in out if isinstance(d, CRMObject)]
        cursors = [d for d in out if isinstance(d, str)]
        if not cursors:
            return docs, pages
        page = cursors[-1]
        pages.append(page)


async def delayed_poll(c: Connected, binding: str, cursor: datetime) -> tuple[list[int], list[datetime]]:
    """One poll of the delayed stream with a hydrator that returns the listed ids: the ids it
    emits and the checkpoints it yields."""
    crm = TYPES[binding]

    async def ids(log: Any, changes: list[dual.Listed]) -> Any:
        yield [int(x.key) for x in changes]

    out = await collect(
        dual.delayed_changes(
            f"{binding}-{id(c)}",
            lambda log, since, until: search_changes(c.client, crm, log, since, until),
            ids,
            c.clock,
            timedelta(hours=1),
            LOG,
            cursor,
        )
    )
    return [x for x in out if isinstance(x, int)], [x for x in out if isinstance(x, datetime)]
