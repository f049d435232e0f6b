"""Workflows (hubspot.md §2.1, §3.7): `GET /automation/v3/workflows` answers every workflow in
one response, with epoch-millisecond times, so both the backfill and the change streams read it
whole and keep the workflows updated in their range."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, AsyncIterator
from datetime import datetime
from typing import Any

from estuary_cdk.capture.common import LogCursor, PageCursor

from ..models import Workflow
from .client import HubSpot, HubSpotError
from .dual import Listed, Window

PATH = "/automation/v3/workflows"


async def _workflows(client: HubSpot, log: logging.Logger) -> list[Workflow]:
    body = await client.get(log, PATH)
    rows = body.get("workflows") if isinstance(body, dict) else None
    if not isinstance(rows, list):
        raise HubSpotError(f"GET {PATH} returned no workflows list: {str(body)[:300]}")
    return [Workflow.model_validate(row) for row in rows]


async def fetch_workflows_page(
    client: HubSpot, log: logging.Logger, page: PageCursor, cutoff: LogCursor
) -> AsyncGenerator[Workflow, None]:
    """The backfill, in one page: the workflows updated before the cutoff."""
    if not isinstance(cutoff, datetime):
        raise HubSpotError(f"the backfill cutoff of workflows is not a time: {cutoff!r}")
    for workflow in await _workflows(client, log):
        if workflow.updatedAt < cutoff:
            yield workflow


async def list_workflows(
    client: HubSpot, log: logging.Logger, since: datetime, until: datetime | None
) -> AsyncIterator[Window]:
    """Workflows updated in `(since, until]` (`until` None: now), carried in the listing."""
    upper = until if until is not None else client.http.clock.now()
    workflows = await _workflows(client, log)
    yield Window(upper, [Listed(w.updatedAt, w.id, w) for w in workflows if since < w.updatedAt <= upper])


async def probe_workflows(client: HubSpot, log: logging.Logger) -> Any:
    return await client.get(log, PATH)
