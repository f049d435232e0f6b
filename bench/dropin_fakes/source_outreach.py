"""Outreach: OAuth2 with rotating tokens (the config's access token has expired, so at open the
kit exchanges the refresh token at the fake's token endpoint and has the new config encrypted by
the fake encryption service), and incremental bindings with a backfill (pages by `page[after]`
up to a cutoff six hours back) and two subtasks each (`fetch_changes` as a dict: realtime from
the cutoff, lookback six hours behind), over one JSON:API-style listing filtered by
`filter[<cursor>][gte|lte]`.

Records date from 2025 (backfill only), from 8 hours before the harness's anchor (backfill, then
the lookback subtask again) and from 3 hours before it (realtime), away from every boundary that
moves with the runs' "now"."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from . import oauth

CONNECTOR = "source-outreach"
PATTERN = "OAuth2 rotating refresh token; backfill + subtasks (realtime/lookback)"
HOSTS = ["api.outreach.io", oauth.ENCRYPTION_HOST]
CONFIG = {
    "start_date": "2025-01-01T00:00:00Z",
    "credentials": {
        "credentials_title": "OAuth Credentials",
        "client_id": "fake-client",
        "client_secret": "fake-secret",
        "refresh_token": "fake-refresh-1",
        "access_token": "expired-access",
        "access_token_expires_at": "2025-01-01T00:00:00Z",
    },
}
BINDINGS = ["accounts", "prospects", "events"]
PAGE = 3
_PATHS = {"accounts": "updatedAt", "prospects": "updatedAt", "events": "createdAt"}


def _z(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _records(anchor: datetime) -> dict[str, list[dict[str, Any]]]:
    out = {}
    for k, (path, field) in enumerate(_PATHS.items()):
        times = [datetime(2025, 3, 1 + i, 12, k, tzinfo=UTC) for i in range(4 + k)]
        times += [anchor - timedelta(hours=8, minutes=i) for i in range(2)]
        times += [anchor - timedelta(hours=3, minutes=i) for i in range(3 - k)]
        out[path] = [
            {
                "id": 100 * (k + 1) + i,
                "type": path[:-1],
                "attributes": {field: _z(t), "name": f"{path} {i}", "score": i * 1.5},
                "relationships": {"owner": {"data": {"type": "user", "id": i % 2}}},
            }
            for i, t in enumerate(times)
        ]
    return out


def app(anchor: datetime) -> web.Application:
    records = _records(anchor)

    async def listing(request: web.Request) -> web.Response:
        oauth.require_bearer(request)
        path = request.match_info["path"]
        if path not in records:
            raise web.HTTPNotFound()
        field = _PATHS[path]
        q = request.query
        lo = datetime.fromisoformat(q[f"filter[{field}][gte]"])
        hi = datetime.fromisoformat(q[f"filter[{field}][lte]"]) if f"filter[{field}][lte]" in q else None
        rows = [
            r
            for r in records[path]
            if lo <= datetime.fromisoformat(r["attributes"][field])
            and (hi is None or datetime.fromisoformat(r["attributes"][field]) <= hi)
        ]
        rows.sort(key=lambda r: (r["attributes"][field], r["id"]))
        start = int(q.get("page[after]", "0"))
        body: dict[str, Any] = {"data": rows[start : start + PAGE]}
        if rows:
            body["links"] = {"first": f"https://api.outreach.io{request.path}"}
            if start + PAGE < len(rows):
                body["links"]["next"] = (
                    f"https://api.outreach.io{request.path}?page%5Bafter%5D={start + PAGE}"
                )
        return web.json_response(body)

    app = web.Application()
    oauth.add_routes(app, "/oauth/token", "fake-refresh-1", "fake-client", "fake-secret")
    app.router.add_get("/api/v2/{path}", listing)
    return app
