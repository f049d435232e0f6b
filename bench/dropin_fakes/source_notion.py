"""Notion, an Airbyte-CDK connector behind the kit's Airbyte shim (pydantic v1), OAuth2
credentials (an access token from the authorization-code flow, sent as a bearer token): users
(full refresh, paged by `start_cursor`/`next_cursor`) and databases and pages (incremental on
`last_edited_time`, through POST /v1/search filtered by object type, same paging)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web

from . import require_header

CONNECTOR = "source-notion"
PATTERN = "Airbyte shim, OAuth2 access token, POST search paging, incremental"
HOSTS = ["api.notion.com"]
CONFIG = {
    "start_date": "2025-01-01T00:00:00.000Z",
    "credentials": {
        "auth_type": "OAuth2.0",
        "client_id": "fake-client",
        "client_secret": "fake-secret",
        "access_token": "fake-token",
    },
}
BINDINGS = ["users", "databases", "pages"]
PAGE = 3

USERS = [
    {
        "object": "user",
        "id": f"user-{i}",
        "type": "person",
        "name": f"User {i}",
        "person": {"email": f"u{i}@example.com"},
    }
    for i in range(5)
] + [
    {
        "object": "user",
        "id": "bot-1",
        "type": "bot",
        "name": "Bot",
        "bot": {"owner": {"type": "workspace", "workspace": True}},
    }
]


def _objects(kind: str, n: int) -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        obj: dict[str, Any] = {
            "object": kind,
            "id": f"{kind}-{i}",
            "created_time": f"2024-12-0{1 + i % 9}T10:00:00.000Z",
            "last_edited_time": f"2025-0{1 + i % 9}-1{i % 10}T10:0{i % 10}:00.000Z",
            "archived": False,
            "parent": {"type": "workspace", "workspace": True},
            "url": f"https://www.notion.so/{kind}-{i}",
        }
        if kind == "page":
            obj["properties"] = {
                "Name": {"id": "title", "type": "title", "title": [{"plain_text": f"Page {i}"}]},
                "Done": {"id": "d1", "type": "checkbox", "checkbox": i % 2 == 0},
            }
        else:
            obj["title"] = [{"plain_text": f"Database {i}"}]
            obj["properties"] = {"Name": {"id": "title", "name": "Name", "type": "title", "title": {}}}
        out.append(obj)
    out.append({**out[0], "id": f"{kind}-old", "last_edited_time": "2024-06-01T00:00:00.000Z"})
    return sorted(out, key=lambda o: o["last_edited_time"])


def _paged(rows: list[dict[str, Any]], cursor: str | None) -> dict[str, Any]:
    start = int(cursor or 0)
    more = start + PAGE < len(rows)
    return {
        "object": "list",
        "results": rows[start : start + PAGE],
        "has_more": more,
        "next_cursor": str(start + PAGE) if more else None,
    }


def app(anchor: datetime) -> web.Application:
    objects = {"page": _objects("page", 7), "database": _objects("database", 4)}

    async def users(request: web.Request) -> web.Response:
        require_header(request, "Authorization", "Bearer fake-token")
        return web.json_response(_paged(USERS, request.query.get("start_cursor")))

    async def me(request: web.Request) -> web.Response:
        require_header(request, "Authorization", "Bearer fake-token")
        return web.json_response(USERS[-1])

    async def search(request: web.Request) -> web.Response:
        require_header(request, "Authorization", "Bearer fake-token")
        body = await request.json()
        rows = objects[body["filter"]["value"]]
        return web.json_response(_paged(rows, body.get("start_cursor")))

    app = web.Application()
    app.router.add_get("/v1/users/me", me)
    app.router.add_get("/v1/users", users)
    app.router.add_post("/v1/search", search)
    return app
