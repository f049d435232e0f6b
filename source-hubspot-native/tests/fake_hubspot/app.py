"""The fake HubSpot as an aiohttp application: API and OAuth paths under one base URL, and a
control API under `/_fake` (hubspot.md §6.1-6.3)."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from estuary_cdk.testing import FaultPlan, RequestLog, control_routes

from . import crm_routes, legacy_routes, marketing_control, marketing_routes, middlewares, search_routes
from .fake import FakeHubSpot, Knobs
from .responses import FAKE_KEY, fake_of, json, json_body

routes = web.RouteTableDef()


@routes.post("/oauth/v1/token")
async def token(request: web.Request) -> web.Response:
    """Form-encoded refresh (and code) grants; errors as HubSpot words them (hubspot.md §6.2)."""
    form = {k: str(v) for k, v in (await request.post()).items()}
    status, body = fake_of(request).tokens.exchange(form)
    if status != 200:
        return json(
            {"status": "BAD_REFRESH_TOKEN", "message": str(body.get("error_description")), **body}, status
        )
    return json(body)


@routes.post("/_fake/mutate")
async def mutate(request: web.Request) -> web.Response:
    """`{"type": "deals", "id": 1, "properties": {...}, "at_ms"?: n, "touch"?: bool}`; without
    an id, a new record."""
    body = await json_body(request)
    crm = fake_of(request).crm
    if body.get("id") is None:
        rec = crm.create(body["type"], body.get("properties"), body.get("at_ms"))
    else:
        rec = crm.mutate(
            body["type"],
            int(body["id"]),
            body.get("properties") or {},
            body.get("at_ms"),
            body.get("touch", True),
        )
    return json({"id": rec.id, "updated_ms": rec.updated_ms})


@routes.post("/_fake/bulk_touch")
async def bulk_touch(request: web.Request) -> web.Response:
    """`{"type": "contacts", "ids"?: [...], "count"?: n, "at_ms"?: n}`: one identical ms."""
    body = await json_body(request)
    fake = fake_of(request)
    ids = body.get("ids") or fake.ids(body["type"])[: int(body.get("count", 0))]
    stamp = fake.crm.bulk_touch(body["type"], ids, body.get("at_ms"))
    return json({"touched": len(ids), "at_ms": stamp})


@routes.post("/_fake/delete")
async def delete(request: web.Request) -> web.Response:
    body = await json_body(request)
    fake_of(request).crm.delete(body["type"], int(body["id"]))
    return json({})


@routes.post("/_fake/knobs")
async def knobs(request: web.Request) -> web.Response:
    """Set any `Knobs` field, `search_lag_ms`, `limits` (bool), `scopes` (list), `fault_rate`."""
    body: dict[str, Any] = await json_body(request)
    fake = fake_of(request)
    for name, value in body.items():
        if name == "search_lag_ms":
            fake.crm.search_lag_ms = int(value)
        elif name == "limits":
            fake.set_limits(bool(value))
        elif name == "scopes":
            fake.set_scopes(set(value))
        elif name == "fault_rate":
            fake.random_faults.rate = float(value)
        elif name in Knobs.__dataclass_fields__:
            setattr(fake.knobs, name, value)
        else:
            return json({"error": f"unknown knob {name}"}, 400)
    return json({"ok": True})


def make_app(
    fake: FakeHubSpot, faults: FaultPlan | None = None, requests: RequestLog | None = None
) -> web.Application:
    """The application serving `fake`. Its status log and random faults are the fake's own;
    pass the `FaultPlan`/`RequestLog` the server uses to control them over HTTP too."""
    app = web.Application(
        middlewares=[
            fake.status_log.middleware,
            fake.random_faults.middleware,
            middlewares.hooks_and_time,
            middlewares.url_length,
            middlewares.auth,
            middlewares.rate_limits,
        ],
        client_max_size=16 * 1024 * 1024,
    )
    app[FAKE_KEY] = fake
    app.add_routes(routes)
    app.add_routes(crm_routes.routes)
    app.add_routes([web.post("/crm/v3/objects/{object}/search", search_routes.search)])
    app.add_routes(legacy_routes.routes)
    app.add_routes(marketing_routes.routes)
    app.add_routes(marketing_control.routes)
    app.add_routes(control_routes(clock=fake.clock, faults=faults, requests=requests))
    return app
