"""monday.com: GraphQL over one POST endpoint, read as a stream (`request_stream` and the kit's
incremental JSON processor, items at `data.<field>.item`), the connector adding a `complexity`
selection to every query; snapshot bindings, `users` paged by `page`/`limit` variables (130
users: two pages of 100)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from aiohttp import web

from . import require_header

CONNECTOR = "source-monday"
PATTERN = "GraphQL (streamed response, paged variables), snapshots"
HOSTS = ["api.monday.com"]
CONFIG = {"credentials": {"credentials_title": "Private App Credentials", "access_token": "fake-token"}}
BINDINGS = ["teams", "users", "tags"]
_ROOT = re.compile(r"complexity \{[^}]*\}\s*(\w+)")

USERS = [
    {
        "id": 1000 + i,
        "name": f"User {i}",
        "email": f"user{i}@example.com",
        "enabled": i % 7 != 0,
        "is_admin": i == 0,
        "created_at": f"2024-0{1 + i % 9}-01T10:00:00Z",
        "time_zone_identifier": "Europe/Paris",
        "title": None,
    }
    for i in range(130)
]
TEAMS = [
    {"id": 10 + t, "name": f"Team {t}", "picture_url": None, "users": [{"id": 1000 + t}], "owners": []}
    for t in range(3)
]
TAGS = [{"id": 50 + t, "name": f"tag-{t}", "color": "#00ff00"} for t in range(4)]


def app(anchor: datetime) -> web.Application:
    async def graphql(request: web.Request) -> web.Response:
        require_header(request, "Authorization", "Bearer fake-token")
        body = await request.json()
        match = _ROOT.search(body["query"]) or re.search(r"\{\s*(\w+)", body["query"])
        field = match.group(1) if match else ""
        data: dict[str, Any] = {"complexity": {"query": 10, "after": 4_999_990, "reset_in_x_seconds": 60}}
        if field == "me":
            data["me"] = {"id": 1000}
        elif field == "teams":
            data["teams"] = TEAMS
        elif field == "tags":
            data["tags"] = TAGS
        elif field == "users":
            variables = body.get("variables") or {}
            limit, page = int(variables.get("limit", 10)), int(variables.get("page", 1))
            data["users"] = USERS[(page - 1) * limit : page * limit]
        else:
            return web.json_response({"errors": [{"message": f"fake: no field {field!r}"}]})
        return web.json_response({"data": data, "account_id": 42})

    app = web.Application()
    app.router.add_post("/v2", graphql)
    return app
