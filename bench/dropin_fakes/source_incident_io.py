"""incident.io: snapshot bindings re-run every 3 seconds (the resource's interval overridden)
against data that shrinks after the first pass, so the second snapshot must end in tombstones
for the rows gone; `users` paged through `pagination_meta.after` and read as a stream; an
incremental binding filtered client-side on `updated_at` (severities); bearer token.

The runs are time-bounded (`LIMIT`): a 3-second snapshot never leaves the connector quiet."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web

from . import require_header

CONNECTOR = "source-incident-io"
PATTERN = "snapshots with tombstones (shrinking data), streamed paging; client-side incremental"
HOSTS = ["api.incident.io"]
CONFIG = {"credentials": {"credentials_title": "Private App Credentials", "access_token": "fake-token"}}
BINDINGS = ["users", "incident_timestamps", "severities"]
RESOURCE_OVERRIDES = {"users": {"interval": "PT3S"}, "incident_timestamps": {"interval": "PT3S"}}
LIMIT = 25.0
NOTES = (
    "tombstones for the 3 users and 1 timestamp gone on the second pass, identical. Checkpoints "
    "differ by design: the reference checkpoints a snapshot's `updated_at` after every pass, ours "
    "only after a pass whose digest changed (estuary-cdk/estuary_cdk/capture/_engine/snapshot.py), "
    "so the final `updated_at` values differ by up to the run's length (matched as now-derived)"
)
PAGE = 4


def _users(n: int) -> list[dict[str, Any]]:
    return [
        {"id": f"u{i}", "name": f"User {i}", "email": f"u{i}@example.com", "role": "viewer"} for i in range(n)
    ]


TIMESTAMPS = [{"id": f"ts{i}", "name": f"Timestamp {i}", "rank": i} for i in range(3)]
SEVERITIES = [
    {"id": f"sev{i}", "name": f"SEV{i}", "rank": i, "updated_at": f"2025-0{i + 1}-15T08:00:00.000Z"}
    for i in range(4)
]


def app(anchor: datetime) -> web.Application:
    passes = {"users": 0, "incident_timestamps": 0}

    async def users(request: web.Request) -> web.Response:
        require_header(request, "Authorization", "Bearer fake-token")
        after = request.query.get("after")
        if after is None:
            passes["users"] += 1
        rows = _users(10 if passes["users"] == 1 else 7)
        start = int(after or 0)
        page = rows[start : start + PAGE]
        meta: dict[str, Any] = {"page_size": PAGE}
        if start + PAGE < len(rows):
            meta["after"] = str(start + PAGE)
        return web.json_response({"users": page, "pagination_meta": meta})

    async def timestamps(request: web.Request) -> web.Response:
        require_header(request, "Authorization", "Bearer fake-token")
        passes["incident_timestamps"] += 1
        rows = TIMESTAMPS if passes["incident_timestamps"] == 1 else TIMESTAMPS[1:]
        return web.json_response({"incident_timestamps": rows})

    async def severities(request: web.Request) -> web.Response:
        require_header(request, "Authorization", "Bearer fake-token")
        return web.json_response({"severities": SEVERITIES})

    async def incidents(request: web.Request) -> web.Response:  # validate's credentials check
        require_header(request, "Authorization", "Bearer fake-token")
        return web.json_response({"incidents": [], "pagination_meta": {"page_size": 500}})

    app = web.Application()
    app.router.add_get("/v2/incidents", incidents)
    app.router.add_get("/v2/users", users)
    app.router.add_get("/v2/incident_timestamps", timestamps)
    app.router.add_get("/v1/severities", severities)
    return app
