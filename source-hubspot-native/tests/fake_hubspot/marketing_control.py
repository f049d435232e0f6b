"""Changes to the fake account's marketing data as they happen in HubSpot, stamped with the
fake's clock (or a given time): an email or workflow edited or created, a form submitted, a
contact joining a list (which modifies the list), a campaign edited. Tests call the functions;
`POST /_fake/marketing` makes them over HTTP (a fake served on its own)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .fake import FakeHubSpot
from .properties import iso
from .responses import bad_request, fake_of, json, json_body

routes = web.RouteTableDef()


def _stamp(fake: FakeHubSpot, at_ms: int | None) -> int:
    return at_ms if at_ms is not None else fake.clock.now_ms()


def edit_email(fake: FakeHubSpot, email_id: str | None = None, at_ms: int | None = None) -> dict[str, Any]:
    """Edit an email (its `updatedAt` moves), or create one without an id."""
    stamp = _stamp(fake, at_ms)
    with fake.marketing_lock:
        emails = fake.marketing.emails
        if email_id is None:
            email_id = str(max((int(e["id"]) for e in emails), default=88_000_000_000) + 1)
            emails.append(
                {"id": email_id, "name": "New email", "subject": "New", "state": "DRAFT", "createdAt": iso(stamp),
                 "archived": False, "stats": {"counters": {"sent": 0, "open": 0}}}
            )  # fmt: skip
        email = next(e for e in emails if e["id"] == email_id)
        email["updatedAt"] = iso(stamp)
        email["subject"] = f"Edited at {stamp}"
        return dict(email)


def edit_workflow(
    fake: FakeHubSpot, workflow_id: int | None = None, at_ms: int | None = None
) -> dict[str, Any]:
    """Edit a workflow, or create one without an id."""
    stamp = _stamp(fake, at_ms)
    with fake.marketing_lock:
        rows = fake.marketing.workflows
        if workflow_id is None:
            workflow_id = max((w["id"] for w in rows), default=3_000_000) + 1
            rows.append({"id": workflow_id, "name": "New workflow", "type": "DRIP_DELAY", "enabled": False,
                         "insertedAt": stamp, "portalId": 123})  # fmt: skip
        workflow = next(w for w in rows if w["id"] == workflow_id)
        workflow["updatedAt"] = stamp
        workflow["name"] = f"Edited at {stamp}"
        return dict(workflow)


def submit(fake: FakeHubSpot, form_id: str, at_ms: int | None = None) -> dict[str, Any]:
    """A new submission of a form (submissions are listed newest first)."""
    stamp = _stamp(fake, at_ms)
    row = {
        "submittedAt": stamp,
        "values": [{"name": "email", "value": f"new{stamp}@example.com"}],
        "pageUrl": "https://example.com/new",
    }
    with fake.marketing_lock:
        rows = fake.marketing.submissions[form_id]
        rows.append(row)
        rows.sort(key=lambda s: -s["submittedAt"])
    return dict(row)


def touch_list(fake: FakeHubSpot, list_id: str, at_ms: int | None = None) -> int:
    """A list modified (its last-modified time moves); returns the time."""
    stamp = _stamp(fake, at_ms)
    with fake.marketing_lock:
        row = next(r for r in fake.marketing.lists if r["listId"] == list_id)
        row["updatedAt"] = iso(stamp)
        row["additionalProperties"] = {
            **row.get("additionalProperties", {}),
            "hs_lastmodifieddate": str(stamp),
        }
    return stamp


def join(fake: FakeHubSpot, list_id: str, record_id: int, at_ms: int | None = None) -> dict[str, Any]:
    """A record joining a list, which modifies the list."""
    stamp = touch_list(fake, list_id, at_ms)
    row = {"recordId": str(record_id), "membershipTimestamp": iso(stamp)}
    with fake.marketing_lock:
        members = fake.marketing.memberships[list_id]
        members.append(row)
        members.sort(key=lambda r: (r["membershipTimestamp"], r["recordId"]))
    return dict(row)


def edit_campaign(
    fake: FakeHubSpot, campaign_id: str, properties: dict[str, str], at_ms: int | None = None
) -> dict[str, Any]:
    stamp = _stamp(fake, at_ms)
    with fake.marketing_lock:
        campaign = next(c for c in fake.marketing.campaigns if c["id"] == campaign_id)
        campaign["properties"] = {**campaign["properties"], **properties}
        campaign["updatedAt"] = iso(stamp)
        return dict(campaign)


@routes.post("/_fake/marketing")
async def change(request: web.Request) -> web.Response:
    """`{"change": "email"|"workflow"|"submission"|"join"|"list"|"campaign", ...}` with the
    arguments of the function of the same purpose (`at_ms` optional)."""
    body = await json_body(request)
    fake = fake_of(request)
    at = body.get("at_ms")
    kind = body.get("change")
    if kind == "email":
        return json(edit_email(fake, body.get("id"), at))
    if kind == "workflow":
        return json(edit_workflow(fake, body.get("id"), at))
    if kind == "submission":
        return json(submit(fake, str(body["formId"]), at))
    if kind == "join":
        return json(join(fake, str(body["listId"]), int(body["recordId"]), at))
    if kind == "list":
        return json({"at_ms": touch_list(fake, str(body["listId"]), at)})
    if kind == "campaign":
        return json(edit_campaign(fake, str(body["id"]), body.get("properties") or {}, at))
    return bad_request(f"unknown change {kind!r}")
