"""Gong: basic auth (access key and secret) on a region's host; a snapshot (scorecard
definitions, paged by `records.cursor`), incremental bindings with a backfill by GET query
parameters (calls) and by a POST body with a `filter` wrapper (users), their state cursors
being epoch seconds."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from aiohttp import web

from . import require_header

CONNECTOR = "source-gong"
PATTERN = "backfill + incremental (GET params and POST filter bodies), cursor paging, snapshot"
HOSTS = ["us-55616.api.gong.io"]
CONFIG = {
    "credentials": {
        "credentials_title": "API Key",
        "access_key": "fake-key",
        "access_key_secret": "fake-secret",
    },
    "region": "us-55616",
    "start_date": "2025-01-01T00:00:00Z",
}
BINDINGS = ["calls", "users", "scorecard_definitions"]
_AUTH = "Basic " + base64.b64encode(b"fake-key:fake-secret").decode()
PAGE = 2

CALLS = [
    {"id": 7000 + i, "title": f"Call {i}", "started": f"2025-0{1 + i}-0{1 + i}T09:00:00Z", "duration": 60 * i}
    for i in range(5)
]
USERS = [
    {"id": 100 + i, "emailAddress": f"u{i}@example.com", "created": f"2025-02-1{i}T12:00:00Z", "active": True}
    for i in range(3)
]
SCORECARDS = [{"scorecardId": 900 + i, "scorecardName": f"Card {i}", "enabled": i != 1} for i in range(3)]


def _page(key: str, rows: list[dict[str, Any]], cursor: str | None) -> web.Response:
    start = int(cursor or 0)
    records: dict[str, Any] = {"totalRecords": len(rows), "currentPageSize": PAGE}
    if start + PAGE < len(rows):
        records["cursor"] = str(start + PAGE)
    return web.json_response({"requestId": "fake", "records": records, key: rows[start : start + PAGE]})


def _between(rows: list[dict[str, Any]], field: str, lo: str, hi: str) -> list[dict[str, Any]]:
    a, b = datetime.fromisoformat(lo), datetime.fromisoformat(hi)
    return [r for r in rows if a <= datetime.fromisoformat(r[field]) <= b]


def app(anchor: datetime) -> web.Application:
    async def calls(request: web.Request) -> web.Response:
        require_header(request, "Authorization", _AUTH)
        q = request.query
        rows = _between(CALLS, "started", q["fromDateTime"], q["toDateTime"])
        if not rows:
            return web.json_response(
                {"errors": ["No calls found corresponding to the provided filters"]}, status=404
            )
        return _page("calls", rows, q.get("cursor"))

    async def users_extensive(request: web.Request) -> web.Response:
        require_header(request, "Authorization", _AUTH)
        body = await request.json()
        f = body["filter"]
        rows = _between(USERS, "created", f["createdFromDateTime"], f["createdToDateTime"])
        if not rows:
            return web.json_response(
                {"errors": ["No users found corresponding to the provided filters"]}, status=404
            )
        return _page("users", rows, body.get("cursor"))

    async def users(request: web.Request) -> web.Response:  # validate's credentials check
        require_header(request, "Authorization", _AUTH)
        return _page("users", USERS, None)

    async def scorecards(request: web.Request) -> web.Response:
        require_header(request, "Authorization", _AUTH)
        return _page("scorecards", SCORECARDS, request.query.get("cursor"))

    app = web.Application()
    app.router.add_get("/v2/calls", calls)
    app.router.add_post("/v2/users/extensive", users_extensive)
    app.router.add_get("/v2/users", users)
    app.router.add_get("/v2/settings/scorecards", scorecards)
    return app
