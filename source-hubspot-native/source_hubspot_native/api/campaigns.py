"""Campaigns (hubspot.md §2.1, §3.7): `GET /marketing/v3/campaigns`, newest change first, 100 at
a time, with the properties asked for. HubSpot refuses (400) the `hs_*` properties this API
cannot read, so only the readable ones and the account's own (custom) ones are asked for."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, AsyncIterator
from datetime import datetime
from typing import Any

from estuary_cdk.capture.common import LogCursor, PageCursor

from ..models import Campaign
from .client import HubSpot, HubSpotError
from .dual import Listed
from .listing import first_row
from .properties import Properties

PATH = "/marketing/v3/campaigns"
LIMIT = 100
READABLE_HS = frozenset(
    "hs_name hs_start_date hs_end_date hs_notes hs_audience hs_goal hs_owner hs_color_hex hs_utm "
    "hs_currency_code hs_created_by_user_id hs_campaign_status hs_object_id hs_budget_items_sum_amount "
    "hs_spend_items_sum_amount".split()
)
"""The `hs_*` campaign properties the campaigns API reads; HubSpot's other ones are a 400."""


def _readable(name: str) -> bool:
    return name in READABLE_HS or not name.startswith(("hs_", "hubspot_"))


async def _names(properties: Properties, log: logging.Logger) -> str:
    return ",".join(p.name for p in await properties.of(log, "campaign") if _readable(p.name))


async def _page(
    client: HubSpot, properties: Properties, log: logging.Logger, after: str | None
) -> tuple[list[Campaign], str | None]:
    """One page, newest change first, and the next page's `after` (None after the last)."""
    params = {"limit": LIMIT, "sort": "-updatedAt", "properties": await _names(properties, log)}
    body = await client.get(log, PATH, {**params, **({"after": after} if after else {})})
    rows = body.get("results") if isinstance(body, dict) else None
    if not isinstance(rows, list):
        raise HubSpotError(f"GET {PATH} returned no results list: {str(body)[:300]}")
    following = ((body.get("paging") or {}).get("next") or {}).get("after")
    return [Campaign.model_validate(row) for row in rows], str(following) if following is not None else None


async def fetch_campaigns_page(
    client: HubSpot, properties: Properties, log: logging.Logger, page: PageCursor, cutoff: LogCursor
) -> AsyncGenerator[Campaign | str, None]:
    """One page of the backfill: its campaigns updated before the cutoff, then the next page.
    Newest first, a campaign updated meanwhile moves to the front: later pages shift by it,
    reading a row twice rather than missing one, and the incremental stream has the change."""
    if not isinstance(cutoff, datetime):
        raise HubSpotError(f"the backfill cutoff of campaigns is not a time: {cutoff!r}")
    campaigns, following = await _page(client, properties, log, str(page) if page is not None else None)
    for campaign in campaigns:
        if campaign.updatedAt < cutoff:
            yield campaign
    if following is not None:
        yield following


async def changed_campaigns(
    client: HubSpot, properties: Properties, log: logging.Logger, since: datetime
) -> AsyncIterator[Listed]:
    """Campaigns updated at or after `since`: pages down to the first one older."""
    after: str | None = None
    while True:
        campaigns, after = await _page(client, properties, log, after)
        for campaign in campaigns:
            if campaign.updatedAt < since:
                return
            yield Listed(campaign.updatedAt, campaign.id, campaign)
        if after is None:
            return


async def probe_campaigns(client: HubSpot, log: logging.Logger) -> Any:
    return await first_row(client, log, PATH)
