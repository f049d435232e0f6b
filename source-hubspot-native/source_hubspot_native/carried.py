"""A binding whose listing carries its documents (email events, marketing emails, workflows):
a backfill of the rows before the cutoff, then the realtime + delayed pair over the same
listing, keyed on `/id` (hubspot.md §2.1)."""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from datetime import datetime, timedelta
from typing import Any

from estuary_cdk.capture.common import BaseDocument, LogCursor, PageCursor, Resource, ResourceState
from estuary_cdk.http import Clock

from .api import dual
from .api.client import HubSpot
from .dual_binding import dual_open, initial_state
from .models import ResourceConfig

PageFn = Callable[[HubSpot, logging.Logger, PageCursor, LogCursor], AsyncGenerator[Any, None]]
"""`(client, log, page, cutoff)`: one page of the backfill, then the next page's cursor."""
ListFn = Callable[[HubSpot, logging.Logger, datetime, datetime | None], AsyncIterator[dual.Window]]
"""`(client, log, since, until)`: the rows changed in `(since, until]`, carried in the listing."""


def carried_resource(
    client: HubSpot,
    name: str,
    model: type[BaseDocument],
    fetch_page: PageFn,
    list_changes: ListFn,
    lag: timedelta,
    clock: Clock,
    interval: timedelta = timedelta(0),
) -> Resource[Any, ResourceConfig, ResourceState]:
    """The binding `name`, polled every `interval` (0: realtime polls back to back)."""
    lister = functools.partial(list_changes, client)
    open = dual_open(name, functools.partial(fetch_page, client), lister, lister, dual.carried, clock, lag)
    return Resource(
        name=name,
        key=["/id"],
        model=model,
        open=open,
        initial_state=initial_state(clock.now(), lag),
        initial_config=ResourceConfig(name=name, interval=interval),
        schema_inference=True,
    )
