"""Iterate: two snapshot bindings, one a child of the other (surveys, then each survey's
responses, paged by a `page[cursor]` in a `links.next` URL); API key in `x-api-key`."""

from __future__ import annotations

from datetime import datetime

from aiohttp import web

from . import require_header

CONNECTOR = "source-iterate"
PATTERN = "snapshots (parent/child, cursor paging)"
HOSTS = ["iteratehq.com"]
CONFIG = {"credentials": {"credentials_title": "Private App Credentials", "access_token": "fake-token"}}
BINDINGS = ["surveys", "survey_responses"]

SURVEYS = [{"id": f"s{i}", "name": f"Survey {i}", "created_at": 1700000000 + i} for i in range(3)]
PAGE = 4


def _responses(survey: str) -> list[dict]:
    n = {"s0": 9, "s1": 0, "s2": 5}[survey]
    return [
        {"id": f"{survey}-r{j}", "survey_id": survey, "score": j % 5, "data": {"q": [j]}} for j in range(n)
    ]


def app(anchor: datetime) -> web.Application:
    async def surveys(request: web.Request) -> web.Response:
        require_header(request, "x-api-key", "fake-token")
        return web.json_response({"results": SURVEYS})

    async def responses(request: web.Request) -> web.Response:
        require_header(request, "x-api-key", "fake-token")
        rows = _responses(request.match_info["id"])
        start = int(request.query.get("page[cursor]", "0"))
        page = rows[start : start + PAGE]
        body: dict = {"results": {"count": len(page), "list": page}}
        if start + PAGE < len(rows):
            body["links"] = {"next": f"https://iteratehq.com{request.path}?v=1&page[cursor]={start + PAGE}"}
        return web.json_response(body)

    app = web.Application()
    app.router.add_get("/api/v1/surveys", surveys)
    app.router.add_get("/api/v1/surveys/{id}/responses", responses)
    return app
