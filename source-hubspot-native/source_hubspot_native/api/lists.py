"""Contact lists and their memberships (hubspot.md §2.1, §3.7).

`POST /crm/v3/lists/search` pages through every list (500 at a time, by list id) and cannot
filter by object type or last-modified time, so both are filtered here (503ecad0d): only lists
of contacts (`objectTypeId` 0-1) are captured. A list's members come from
`GET /crm/v3/lists/{id}/memberships/join-order`, 250 at a time, each with the time it joined;
every page is read, as the order is not relied on."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, AsyncIterator
from datetime import datetime
from typing import Any

from estuary_cdk.buffer_ordered import buffer_ordered
from estuary_cdk.capture.common import LogCursor, PageCursor

from ..models import ContactList, ContactListMembership
from .client import HubSpot, HubSpotError
from .dual import Listed, parse_ts
from .listing import all_rows, first_row

SEARCH = "/crm/v3/lists/search"
SEARCH_COUNT = 500
MEMBERS_LIMIT = 250
CONTACTS = "0-1"
PARALLEL_LISTS = 20
"""Lists whose members are read at once (Estuary raised it from 5 and chose 20 over 50, #3627)."""


def members_path(list_id: int) -> str:
    return f"/crm/v3/lists/{list_id}/memberships/join-order"


def _lastmod(row: dict[str, Any]) -> datetime:
    """A list's last change: `hs_lastmodifieddate` (epoch ms) when asked for, else `updatedAt`."""
    stamp = (row.get("additionalProperties") or {}).get("hs_lastmodifieddate") or row.get("updatedAt")
    if stamp is None:
        raise HubSpotError(f"list {row.get('listId')} has no last-modified time: {str(row)[:300]}")
    return parse_ts(stamp)


async def _search_page(
    client: HubSpot, log: logging.Logger, offset: int, count: int = SEARCH_COUNT
) -> tuple[list[dict[str, Any]], int | None]:
    """One page of lists (of every object type), and the offset of the next (None after the
    last)."""
    body = {
        "count": count,
        "offset": offset,
        "sort": "HS_LIST_ID",
        "additionalProperties": ["hs_lastmodifieddate"],
    }
    answer = await client.post(log, SEARCH, body)
    lists = answer.get("lists") if isinstance(answer, dict) else None
    if not isinstance(lists, list):
        raise HubSpotError(f"POST {SEARCH} returned no lists: {str(answer)[:300]}")
    following = int(answer["offset"]) if answer.get("hasMore") and answer.get("offset") is not None else None
    return [row for row in lists if isinstance(row, dict)], following


def _of_contacts(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [row for row in rows if row.get("objectTypeId") == CONTACTS]


async def _contact_lists(client: HubSpot, log: logging.Logger) -> AsyncIterator[dict[str, Any]]:
    offset: int | None = 0
    while offset is not None:
        rows, offset = await _search_page(client, log, offset)
        for row in _of_contacts(rows):
            yield row


# --- contact_lists ---------------------------------------------------------------------------


async def fetch_lists_page(
    client: HubSpot, log: logging.Logger, page: PageCursor, cutoff: LogCursor
) -> AsyncGenerator[ContactList | int, None]:
    """One search page of the backfill: the lists last modified before the cutoff, then the next
    page's offset."""
    if not isinstance(cutoff, datetime):
        raise HubSpotError(f"the backfill cutoff of contact_lists is not a time: {cutoff!r}")
    rows, following = await _search_page(client, log, int(str(page or 0)))
    for row in _of_contacts(rows):
        if _lastmod(row) < cutoff:
            yield ContactList.model_validate(row)
    if following is not None:
        yield following


async def changed_lists(client: HubSpot, log: logging.Logger, since: datetime) -> AsyncIterator[Listed]:
    """Lists of contacts last modified at or after `since`."""
    async for row in _contact_lists(client, log):
        ts = _lastmod(row)
        if ts >= since:
            yield Listed(ts, int(row["listId"]), ContactList.model_validate(row))


async def probe_lists(client: HubSpot, log: logging.Logger) -> Any:
    return await _search_page(client, log, 0, 1)


# --- contact_list_memberships ----------------------------------------------------------------


def _membership(list_id: int, row: dict[str, Any]) -> ContactListMembership:
    return ContactListMembership.model_validate({**row, "listId": list_id})


async def fetch_memberships_page(
    client: HubSpot, log: logging.Logger, page: PageCursor, cutoff: LogCursor
) -> AsyncGenerator[ContactListMembership | int, None]:
    """One list per page: the members of the first list after `page` (a list id) that joined
    before the cutoff, then that list's id."""
    if not isinstance(cutoff, datetime):
        raise HubSpotError(f"the backfill cutoff of contact_list_memberships is not a time: {cutoff!r}")
    done = int(str(page)) if page is not None else -1
    ids = [int(row["listId"]) async for row in _contact_lists(client, log)]
    following = min((i for i in ids if i > done), default=None)
    if following is None:
        return
    async for row in all_rows(client, log, members_path(following), {"limit": MEMBERS_LIMIT}):
        member = _membership(following, row)
        if member.membershipTimestamp < cutoff:
            yield member
    yield following


async def _joined_since(
    client: HubSpot, log: logging.Logger, list_id: int, since: datetime
) -> list[ContactListMembership]:
    joined = []
    async for row in all_rows(client, log, members_path(list_id), {"limit": MEMBERS_LIMIT}):
        member = _membership(list_id, row)
        if member.membershipTimestamp >= since:
            joined.append(member)
    return joined


async def changed_memberships(client: HubSpot, log: logging.Logger, since: datetime) -> AsyncIterator[Listed]:
    """Members that joined at or after `since` the lists modified since then, `PARALLEL_LISTS`
    lists at a time."""

    async def reads() -> AsyncIterator[Any]:
        async for changed in changed_lists(client, log, since):
            yield _joined_since(client, log, int(changed.key), since)

    async for members in buffer_ordered(reads(), PARALLEL_LISTS):
        for m in members:
            yield Listed(m.membershipTimestamp, f"{m.listId}:{m.recordId}", m)


async def probe_memberships(client: HubSpot, log: logging.Logger) -> Any:
    """The first member of the first list (the memberships endpoint has a scope of its own)."""
    rows, _ = await _search_page(client, log, 0, 1)
    if rows:
        await first_row(client, log, f"/crm/v3/lists/{rows[0]['listId']}/memberships")
