"""Email events, forms and submissions, marketing emails, lists and memberships, campaigns,
workflows and marketing events (hubspot.md §3.6, §3.7, §6.2)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web

from .responses import bad_request, error, extra, fake_of, int_param, json, json_body, paging

routes = web.RouteTableDef()

_READABLE_CAMPAIGN_HS = {
    "hs_start_date", "hs_end_date", "hs_color_hex", "hs_notes", "hs_audience", "hs_goal", "hs_owner",
    "hs_currency_code", "hs_created_by_user_id", "hs_campaign_status", "hs_object_id", "hs_name", "hs_utm",
    "hs_budget_items_sum_amount", "hs_spend_items_sum_amount",
}  # fmt: skip


def _page(request: web.Request, rows: list[Any], default: int, cap: int) -> tuple[list[Any], dict[str, Any]]:
    limit = int_param(request, "limit", default, 1, cap)
    after = int_param(request, "after", 0)
    out: dict[str, Any] = {}
    if after + limit < len(rows):
        out["paging"] = paging(request, after + limit, limit=str(limit))
    return rows[after : after + limit], out


@routes.get("/email/public/v1/events")
async def email_events(request: web.Request) -> web.Response:
    fake = fake_of(request)
    start = int_param(request, "startTimestamp", 0)
    end = int_param(request, "endTimestamp", 2**62)
    limit = int_param(request, "limit", 100, 1, 1000)
    offset = int(request.query.get("offset") or 0)
    with fake.marketing_lock:
        rows = [e for e in fake.marketing.email_events if start <= e["created"] <= end]
    page = rows[offset : offset + limit]
    more = offset + limit < len(rows)
    # The offset is a string, and present even on the last page (hubspot.md §3.6).
    return json(
        {
            "hasMore": more,
            "offset": str(offset + len(page)),
            "events": [extra(request, dict(e)) for e in page],
        }
    )


@routes.get("/marketing/v3/forms")
async def forms(request: web.Request) -> web.Response:
    fake = fake_of(request)
    wanted = request.query.get("formTypes", "hubspot").split(",")
    rows = [f for f in fake.marketing.forms if "all" in wanted or f["formType"] in wanted]
    page, more = _page(request, rows, 20, 500)
    return json({"results": [extra(request, dict(f)) for f in page], **more})


@routes.get("/form-integrations/v1/submissions/forms/{form}")
async def form_submissions(request: web.Request) -> web.Response:
    fake = fake_of(request)
    form_id = request.match_info["form"]
    form = next((f for f in fake.marketing.forms if f["id"] == form_id), None)
    if form is None:
        return error(404, f"form {form_id} not found", "OBJECT_NOT_FOUND")
    if form["formType"] == "blog_comment":
        return error(400, "Form type BLOG_COMMENT is not allowed", "FORM_TYPE_NOT_ALLOWED")
    with fake.marketing_lock:
        rows = list(fake.marketing.submissions.get(form_id, []))
    page, more = _page(request, rows, 20, 50)
    return json({"results": [extra(request, dict(s)) for s in page], **more})


def _iso_ms(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


@routes.get("/marketing/v3/emails")
async def marketing_emails(request: web.Request) -> web.Response:
    """Both bounds exclusive; `includeStats=true` omits the emails HubSpot's bug hides (#3331)."""
    fake = fake_of(request)
    q = request.query
    after_ms = _iso_ms(q["updatedAfter"]) if "updatedAfter" in q else -1
    before_ms = _iso_ms(q["updatedBefore"]) if "updatedBefore" in q else 2**62
    archived = q.get("archived", "false") == "true"
    stats = q.get("includeStats", "true") == "true"
    rows = []
    for email in sorted(fake.marketing.emails, key=lambda e: (e["updatedAt"], e["id"])):
        updated = _iso_ms(email["updatedAt"])
        if not after_ms < updated < before_ms or email["archived"] != archived:
            continue
        if stats and email["id"] in fake.marketing.hidden_with_stats:
            continue
        row = dict(email)
        if not stats:
            row.pop("stats", None)
        rows.append(extra(request, row))
    page, more = _page(request, rows, 10, 300)
    return json({"total": len(rows), "results": page, **more})


@routes.post("/crm/v3/lists/search")
async def lists_search(request: web.Request) -> web.Response:
    fake = fake_of(request)
    body = await json_body(request)
    count = int(body.get("count") or 20)
    offset = int(body.get("offset") or 0)
    if count > 500:
        return bad_request("count must be at most 500")
    with fake.marketing_lock:
        rows = sorted(fake.marketing.lists, key=lambda row: int(row["listId"]))
    page = rows[offset : offset + count]
    return json(
        {
            "lists": [extra(request, dict(row)) for row in page],
            "hasMore": offset + count < len(rows),
            "offset": offset + len(page),
            "total": len(rows),
        }
    )


async def _memberships(request: web.Request) -> web.Response:
    fake = fake_of(request)
    list_id = request.match_info["list"]
    with fake.marketing_lock:
        if list_id not in fake.marketing.memberships:
            return error(404, f"list {list_id} does not exist", "OBJECT_NOT_FOUND")
        rows = list(fake.marketing.memberships[list_id])
    page, more = _page(request, rows, 100, 250)
    return json({"results": [dict(r) for r in page], **more})


routes.get("/crm/v3/lists/{list}/memberships")(_memberships)
routes.get("/crm/v3/lists/{list}/memberships/join-order")(_memberships)


@routes.get("/marketing/v3/campaigns")
async def campaigns(request: web.Request) -> web.Response:
    fake = fake_of(request)
    wanted = [p for p in request.query.get("properties", "").split(",") if p]
    forbidden = [p for p in wanted if p.startswith(("hs_", "hubspot_")) and p not in _READABLE_CAMPAIGN_HS]
    if forbidden:
        return bad_request(f"Properties {forbidden} are not readable through this API")
    rows = sorted(
        fake.marketing.campaigns,
        key=lambda c: c["updatedAt"],
        reverse=request.query.get("sort") == "-updatedAt",
    )
    out = []
    for c in rows:
        row = {k: v for k, v in c.items() if k != "properties"}
        row["properties"] = {k: v for k, v in c["properties"].items() if k in wanted}
        out.append(extra(request, row))
    page, more = _page(request, out, 50, 100)
    return json({"results": page, **more})


@routes.get("/automation/v3/workflows")
async def workflows(request: web.Request) -> web.Response:
    return json({"workflows": [extra(request, dict(w)) for w in fake_of(request).marketing.workflows]})


@routes.get("/marketing/v3/marketing-events")
async def marketing_events(request: web.Request) -> web.Response:
    page, more = _page(request, fake_of(request).marketing.marketing_events, 10, 100)
    return json({"results": [extra(request, dict(e)) for e in page], **more})


@routes.get("/marketing/v3/marketing-events/participations/{event}/breakdown")
async def participants(request: web.Request) -> web.Response:
    rows = fake_of(request).marketing.participants.get(request.match_info["event"], [])
    page, more = _page(request, rows, 10, 100)
    return json({"results": [extra(request, dict(p)) for p in page], **more})
