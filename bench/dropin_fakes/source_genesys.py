"""Genesys Cloud: OAuth2 client credentials (the id and secret in a basic header, exchanged at
the domain's login host for a bearer token), snapshot bindings over a page-numbered listing whose
response's `pageSize` is authoritative (users, queues), a POST search paged by `pageCount`
(teams), and a child of queues (each queue's members)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web

from . import oauth

CONNECTOR = "source-genesys"
PATTERN = "OAuth2 client credentials; snapshots (page numbers, POST search, child stream)"
HOSTS = ["api.mypurecloud.com", "login.mypurecloud.com"]
CONFIG = {
    "start_date": "2025-01-01T00:00:00Z",
    "genesys_cloud_domain": "mypurecloud.com",
    "credentials": {
        "credentials_title": "OAuth Credentials",
        "client_id": "fake-client",
        "client_secret": "fake-secret",
    },
}
BINDINGS = ["users", "teams", "queues", "queue_members"]
PAGE = 2

USERS = [
    {"id": f"user-{i}", "name": f"User {i}", "state": "active", "team": {"id": f"team-{i % 2}"}}
    for i in range(5)
]
TEAMS = [
    {"id": f"team-{i}", "name": f"Team {i}", "dateModified": f"2025-03-0{1 + i}T00:00:00Z"} for i in range(3)
]
QUEUES = [{"id": f"queue-{i}", "name": f"Queue {i}", "memberCount": i + 1} for i in range(3)]
MEMBERS = {
    q["id"]: [{"id": f"user-{j}", "name": f"User {j}", "joined": j % 2 == 0} for j in range(q["memberCount"])]
    for q in QUEUES
}


def _listing(request: web.Request, rows: list[dict[str, Any]]) -> web.Response:
    number = int(request.query.get("pageNumber", "1"))
    size = min(PAGE, int(request.query.get("pageSize", PAGE)))
    page = rows[(number - 1) * size : number * size]
    return web.json_response({"entities": page, "pageSize": size, "pageNumber": number, "total": len(rows)})


def app(anchor: datetime) -> web.Application:
    async def users(request: web.Request) -> web.Response:
        oauth.require_bearer(request)
        return _listing(request, USERS)

    async def queues(request: web.Request) -> web.Response:
        oauth.require_bearer(request)
        return _listing(request, QUEUES)

    async def members(request: web.Request) -> web.Response:
        oauth.require_bearer(request)
        return _listing(request, MEMBERS.get(request.match_info["id"], []))

    async def teams(request: web.Request) -> web.Response:
        oauth.require_bearer(request)
        body = await request.json()
        number = int(body.get("pageNumber", 1))
        count = -(-len(TEAMS) // PAGE)
        page = TEAMS[(number - 1) * PAGE : number * PAGE]
        return web.json_response(
            {"results": page, "pageSize": PAGE, "pageNumber": number, "total": len(TEAMS), "pageCount": count}
        )

    app = web.Application()
    app["recorded"] = []
    app.router.add_post("/oauth/token", oauth.client_credentials_handler("fake-client", "fake-secret"))
    app.router.add_get("/api/v2/users", users)
    app.router.add_get("/api/v2/routing/queues", queues)
    app.router.add_get("/api/v2/routing/queues/{id}/members", members)
    app.router.add_post("/api/v2/teams/search", teams)
    return app
