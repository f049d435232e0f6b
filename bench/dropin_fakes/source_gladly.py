"""Gladly: incremental bindings over one events endpoint read as JSON lines (`request_lines`),
one entity type per binding, from a `startAt` cursor; basic auth (agent e-mail and API token).

The API only looks back 24 hours and the connector starts 23 hours back, so the events date from
the harness's anchor minus 60 to 40 minutes (the same for both kits)."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta

from aiohttp import web

from . import require_header

CONNECTOR = "source-gladly"
PATTERN = "incremental (JSON lines stream, basic auth)"
HOSTS = ["acme.gladly.com"]
CONFIG = {"organization": "acme", "agentEmail": "agent@example.com", "apiToken": "fake-token"}
BINDINGS = ["AgentStatusEvents", "ContactEvents", "ConversationEvents"]
_AUTH = "Basic " + base64.b64encode(b"agent@example.com:fake-token").decode()
_ENTITIES = {"AGENT_STATUS": 4, "CONTACT": 7, "CONVERSATION": 3}


def _events(anchor: datetime) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for k, (entity, n) in enumerate(_ENTITIES.items()):
        out[entity] = [
            {
                "id": f"{entity.lower()}-{i}",
                "type": f"{entity}/UPDATED",
                "timestamp": (anchor + timedelta(minutes=3 * i + k, milliseconds=7 * i)).isoformat(
                    timespec="milliseconds"
                ),
                "initiator": {"id": f"agent-{i % 2}", "type": "AGENT"},
                "content": {"value": i, "entity": entity},
            }
            for i in range(n)
        ]
    return out


def app(anchor: datetime) -> web.Application:
    events = _events(anchor - timedelta(minutes=60))

    async def list_events(request: web.Request) -> web.Response:
        require_header(request, "Authorization", _AUTH)
        since = datetime.fromisoformat(request.query["startAt"])
        rows = [
            e
            for e in events.get(request.query["entities"], [])
            if datetime.fromisoformat(e["timestamp"]) >= since
        ]
        body = "".join(json.dumps(e) + "\n" for e in rows)
        return web.Response(text=body, content_type="application/x-ndjson")

    app = web.Application()
    app.router.add_get("/api/v1/events", list_events)
    return app
