"""The legacy change APIs the realtime streams read (hubspot.md §3.6, §6.2): newest-first
"recent" lists that stop at 10,000 rows or 30 days and may hide the youngest rows
(`recent_lag_ms`, #1861); the unordered engagements `modified/after` feed; the tickets change log."""

from __future__ import annotations

import base64
import bisect
from typing import Any

from aiohttp import web

from .catalog import DAY_MS
from .responses import bad_request, extra, fake_of, int_param, json
from .store import TypeStore

routes = web.RouteTableDef()

RECENT_CAP = 10_000
RECENT_DAYS = 30


def _recent(request: web.Request, name: str) -> tuple[TypeStore, list[tuple[int, int]]]:
    """(ms, id) of the type's records the recent APIs show, newest first."""
    fake = fake_of(request)
    store = fake.crm.types[name]
    now = fake.clock.now_ms()
    newest = now - fake.knobs.recent_lag_ms
    rows = store.current.range(now - RECENT_DAYS * DAY_MS, newest, now)
    rows.reverse()
    return store, rows[:RECENT_CAP]


def _offset_list(request: web.Request, name: str) -> tuple[TypeStore, list[tuple[int, int]], dict[str, Any]]:
    count = int_param(request, "count", 20, 1, 100)
    offset = int_param(request, "offset", 0)
    store, rows = _recent(request, name)
    since = request.query.get("since")
    if since:
        rows = [r for r in rows if r[0] >= int(since)]
    page = rows[offset : offset + count]
    more = offset + count < len(rows)
    return store, page, {"hasMore": more, "offset": offset + len(page), "total": len(rows)}


def _lastmod(ms: int) -> dict[str, Any]:
    return {"hs_lastmodifieddate": {"value": str(ms), "timestamp": ms, "source": "CALCULATED"}}


def _recent_page(request: web.Request, name: str, id_field: str) -> web.Response:
    """A legacy recent-modified page of `name`: ids under `id_field` with their last-mod."""
    _, page, meta = _offset_list(request, name)
    results = [
        extra(request, {id_field: rid, "isDeleted": False, "properties": _lastmod(ts)}) for ts, rid in page
    ]
    return json({"results": results, **meta})


@routes.get("/companies/v2/companies/recent/modified")
async def recent_companies(request: web.Request) -> web.Response:
    return _recent_page(request, "companies", "companyId")


@routes.get("/deals/v1/deal/recent/modified")
async def recent_deals(request: web.Request) -> web.Response:
    return _recent_page(request, "deals", "dealId")


def _engagement(ts: int, rid: int) -> dict[str, Any]:
    return {
        "engagement": {
            "id": rid,
            "lastUpdated": ts,
            "type": ("NOTE", "CALL", "EMAIL", "MEETING", "TASK")[rid % 5],
        },
        "associations": {"contactIds": [], "companyIds": [], "dealIds": []},
        "metadata": {},
    }


@routes.get("/engagements/v1/engagements/recent/modified")
async def recent_engagements(request: web.Request) -> web.Response:
    _, page, meta = _offset_list(request, "engagements")
    return json({"results": [extra(request, _engagement(ts, rid)) for ts, rid in page], **meta})


@routes.get("/contacts/v1/lists/recently_updated/contacts/recent")
async def recent_contacts(request: web.Request) -> web.Response:
    count = int_param(request, "count", 20, 1, 100)
    _, rows = _recent(request, "contacts")
    time_offset = request.query.get("timeOffset")
    if time_offset:
        # Rows after (older than) the previous page's last row, in (ms, vid) descending order.
        last = (int(time_offset), int(request.query.get("vidOffset") or 2**62))
        rows = [r for r in rows if r < last]
    page = rows[:count]
    contacts = [
        extra(request, {"vid": rid, "addedAt": ts, "properties": {"lastmodifieddate": {"value": str(ts)}}})
        for ts, rid in page
    ]
    tail = page[-1] if page else (0, 0)
    return json(
        {"contacts": contacts, "has-more": len(rows) > count, "time-offset": tail[0], "vid-offset": tail[1]}
    )


def _encode(snapshot_ms: int, after_ms: int, offset: int) -> str:
    return base64.urlsafe_b64encode(f"{snapshot_ms}:{after_ms}:{offset}".encode()).decode()


@routes.get("/engagements/v1/engagements/modified/after")
async def engagements_modified_after(request: web.Request) -> web.Response:
    """Every engagement modified after `after` (ms, or the previous page's cursor), unordered,
    through the (lagging) index: no 10,000 cap, but no order to rely on either."""
    fake = fake_of(request)
    limit = int_param(request, "limit", 100, 1, 1000)
    raw = request.query.get("after", "0")
    now = fake.clock.now_ms()
    if raw.isdigit():
        snapshot, after_ms, offset = now, int(raw), 0
    else:
        try:
            snapshot, after_ms, offset = map(int, base64.urlsafe_b64decode(raw.encode()).decode().split(":"))
        except ValueError:
            return bad_request(f"invalid after cursor {raw!r}")
    store = fake.crm.types["engagements"]
    rows = [r for r in store.search.range(after_ms + 1, snapshot, now)]
    rows.sort(key=lambda r: (r[1] * 2_654_435_761) & 0xFFFF_FFFF)
    page = rows[offset : offset + limit]
    more = offset + limit < len(rows)
    body: dict[str, Any] = {
        "results": [extra(request, _engagement(ts, rid)) for ts, rid in page],
        "hasMore": more,
    }
    if more:
        body["after"] = _encode(snapshot, after_ms, offset + limit)
    return json(body)


@routes.get("/crm-objects/v1/change-log/tickets")
async def tickets_change_log(request: web.Request) -> web.Response:
    """Changes after `timestamp`, oldest first, at most 1,000, from the last 24 hours only;
    a bare JSON array."""
    fake = fake_of(request)
    since = int_param(request, "timestamp", 0)
    now = fake.clock.now_ms()
    store = fake.crm.types["tickets"]
    with fake.crm.lock:
        start = bisect.bisect_right(store.changes, (max(since, now - DAY_MS), 2**62, "~"))
        rows = store.changes[start : start + 1000]
    return json(
        [{"timestamp": ts, "changeType": kind, "objectId": rid, "changes": {}} for ts, rid, kind in rows]
    )
