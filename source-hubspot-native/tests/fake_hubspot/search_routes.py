"""`POST /crm/v3/objects/{object}/search` (hubspot.md §3.3, §6.2): filters on the last-modified
property and `hs_object_id`, offset paging capped at 10,000 results, an index that lags the
store, and the misordering HubSpot's search shows near (and not so near) the present."""

from __future__ import annotations

import calendar
from datetime import datetime
from typing import Any

from aiohttp import web
from estuary_cdk.testing import ResultCapExceeded, offset_page

from .render import search_row
from .responses import bad_request, extra, fake_of, json, json_body
from .store import TypeStore

RESULT_CAP = 10_000
MAX_LIMIT = 200
_FAR = 2**62


def _millis(value: Any) -> int:
    """A filter value as epoch ms: ISO 8601 with any fraction (truncated to ms), or ms."""
    if isinstance(value, int | float):
        return int(value)
    text = str(value).strip()
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise web.HTTPBadRequest(
            text=f'{{"status":"error","message":"invalid date value {text}","category":"VALIDATION_ERROR"}}',
            content_type="application/json",
        ) from None
    return calendar.timegm(parsed.utctimetuple()) * 1000 + parsed.microsecond // 1000


class _Group:
    """One filter group: a last-modified range and an id predicate, ANDed."""

    def __init__(self, filters: list[dict[str, Any]], lastmod: str) -> None:
        self.lo, self.hi = 0, _FAR
        self.id_lo, self.id_hi = 0, _FAR
        for f in filters:
            name, op = f.get("propertyName"), str(f.get("operator", "")).upper()
            if name == lastmod:
                lo, hi = _bounds(op, f, _millis)
                self.lo, self.hi = max(self.lo, lo), min(self.hi, hi)
            elif name == "hs_object_id":
                lo, hi = _bounds(op, f, lambda v: int(str(v)))
                self.id_lo, self.id_hi = max(self.id_lo, lo), min(self.id_hi, hi)
            else:
                raise web.HTTPBadRequest(
                    text=f'{{"status":"error","message":"the fake cannot filter on {name}"}}',
                    content_type="application/json",
                )


def _bounds(op: str, f: dict[str, Any], parse: Any) -> tuple[int, int]:
    value = parse(f.get("value"))
    if op == "GTE":
        return value, _FAR
    if op == "GT":
        return value + 1, _FAR
    if op == "LTE":
        return 0, value
    if op == "LT":
        return 0, value - 1
    if op == "EQ":
        return value, value
    if op == "BETWEEN":
        return value, parse(f.get("highValue"))
    raise web.HTTPBadRequest(
        text=f'{{"status":"error","message":"unsupported operator {op}"}}', content_type="application/json"
    )


def _shift(record_id: int, rate: float, max_ms: int) -> int:
    """How much later than its timestamp a row sorts (deterministic per id, so every page of
    one query sees the same order)."""
    if rate <= 0 or max_ms <= 0:
        return 0
    h = (record_id * 2_654_435_761) & 0xFFFF_FFFF
    return (h >> 8) % (max_ms + 1) if (h % 1000) < rate * 1000 else 0


def _sort_spec(sorts: list[Any], lastmod: str) -> tuple[str, bool]:
    if not sorts:
        return "id", False
    first = sorts[0]
    if isinstance(first, str):
        name, descending = first.lstrip("-"), first.startswith("-")
    else:
        name, descending = (
            first.get("propertyName"),
            str(first.get("direction", "ASCENDING")).upper() == "DESCENDING",
        )
    return ("id" if name == "hs_object_id" else "lastmod" if name == lastmod else "id"), descending


def matching(
    store: TypeStore, body: dict[str, Any], now_ms: int, misorder: tuple[float, int]
) -> list[tuple[int, int]]:
    """(indexed last-modified ms, id) of every match, in the order the search answers them."""
    if "filters" in body:
        groups = [_Group(body.get("filters") or [], store.obj.lastmod)]
    else:
        groups = [_Group(g.get("filters") or [], store.obj.lastmod) for g in body.get("filterGroups") or [{}]]
    found: dict[int, int] = {}
    for g in groups:
        for ts, rid in store.search.range(g.lo, g.hi, now_ms):
            if g.id_lo <= rid <= g.id_hi and rid in store.records:
                found[rid] = ts
    key, descending = _sort_spec(body.get("sorts") or [], store.obj.lastmod)
    rate, max_ms = misorder
    rows = [(ts, rid) for rid, ts in found.items()]
    if key == "id":
        rows.sort(key=lambda r: r[1], reverse=descending)
    else:
        rows.sort(key=lambda r: (r[0] + _shift(r[1], rate, max_ms), r[1]), reverse=descending)
    return rows


async def search(request: web.Request) -> web.Response:
    fake = fake_of(request)
    store = fake.crm.types.get(request.match_info["object"])
    if store is None:
        return bad_request(f"Unable to infer object type from: {request.match_info['object']}")
    body = await json_body(request)
    limit = int(body.get("limit") or 10)
    after = int(body.get("after") or 0)
    if limit > MAX_LIMIT:
        return bad_request(f"limit {limit} is over the maximum of {MAX_LIMIT}")
    knobs = fake.knobs
    with fake.crm.lock:
        rows = matching(store, body, fake.clock.now_ms(), (knobs.misorder_rate, knobs.misorder_max_ms))
        try:
            page, following = offset_page(rows, after, limit, RESULT_CAP)
        except ResultCapExceeded as exc:
            return bad_request(str(exc), errors=[{"message": "after + limit cannot exceed 10000"}])
        results = [
            extra(request, search_row(store, store.records[rid], ts, knobs.stale_body)) for ts, rid in page
        ]
    out: dict[str, Any] = {"total": len(rows), "results": results}
    if following is not None:
        out["paging"] = {"next": {"after": str(following), "link": f"?after={following}"}}
    return json(out)
