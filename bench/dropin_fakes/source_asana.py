"""Asana, an Airbyte-CDK connector behind the kit's Airbyte shim, with OAuth2 done by the Airbyte
CDK itself: its authenticator exchanges the refresh token at Asana's token endpoint (a multipart
form POST) for a bearer token. Workspaces (cached by the Airbyte CDK, `use_cache`), then per
workspace: users and projects (`workspace` parameter) and teams (the organization in the path); pages by
`next_page.offset`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web

from . import oauth

CONNECTOR = "source-asana"
PATTERN = "Airbyte shim, OAuth2 refresh token (Airbyte's authenticator), per-workspace children"
HOSTS = ["app.asana.com"]
CONFIG = {
    "credentials": {
        "option_title": "OAuth Credentials",
        "client_id": "fake-client",
        "client_secret": "fake-secret",
        "refresh_token": "fake-refresh-1",
    }
}
BINDINGS = ["workspaces", "users", "projects", "teams"]
PAGE = 2

WORKSPACES = [
    {"gid": f"w{i}", "name": f"Workspace {i}", "resource_type": "workspace", "is_organization": i == 0}
    for i in range(2)
]
USERS = {
    w["gid"]: [
        {
            "gid": f"{w['gid']}-u{j}",
            "name": f"User {j}",
            "email": f"u{j}@example.com",
            "resource_type": "user",
        }
        for j in range(3)
    ]
    for w in WORKSPACES
}
PROJECTS = {
    w["gid"]: [
        {
            "gid": f"{w['gid']}-p{j}",
            "name": f"Project {j}",
            "archived": j == 2,
            "workspace": {"gid": w["gid"]},
        }
        for j in range(2 + int(w["gid"][1:]))
    ]
    for w in WORKSPACES
}
TEAMS = {"w0": [{"gid": "w0-t0", "name": "Team 0", "resource_type": "team"}], "w1": []}


def _page(request: web.Request, rows: list[dict[str, Any]]) -> web.Response:
    start = int(request.query.get("offset", "0"))
    more = start + PAGE < len(rows)
    return web.json_response(
        {
            "data": rows[start : start + PAGE],
            "next_page": {"offset": str(start + PAGE), "path": "", "uri": ""} if more else None,
        }
    )


def app(anchor: datetime) -> web.Application:
    async def workspaces(request: web.Request) -> web.Response:
        oauth.require_bearer(request)
        return _page(request, WORKSPACES)

    async def per_workspace(request: web.Request) -> web.Response:
        oauth.require_bearer(request)
        table = {"users": USERS, "projects": PROJECTS}[request.match_info["kind"]]
        return _page(request, table.get(request.query.get("workspace", ""), []))

    async def teams(request: web.Request) -> web.Response:
        oauth.require_bearer(request)
        return _page(request, TEAMS.get(request.match_info["gid"], []))

    app = web.Application()
    oauth.add_routes(app, "/-/oauth_token", "fake-refresh-1", "fake-client", "fake-secret")
    app.router.add_get("/api/1.0/workspaces", workspaces)
    app.router.add_get("/api/1.0/organizations/{gid}/teams", teams)
    app.router.add_get("/api/1.0/{kind:(users|projects)}", per_workspace)
    return app
