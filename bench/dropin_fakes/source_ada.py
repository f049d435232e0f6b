"""Ada: API key on the bot's own host; snapshot bindings read as a stream (`data.item`) paged by
a `cursor` in `meta.next_page_uri`; export bindings (conversations by `updated_since`/
`updated_to`, messages by `created_since`/`created_to`) backfilled in windows from the start date
to two days back, whose documents rename `_id` to `id` (a populate-by-name, serialize-by-alias
model) and read zone-less date-times as UTC. Windows page by raising the lower bound from
`next_page_uri`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from . import require_header

CONNECTOR = "source-ada"
PATTERN = "streamed snapshots; windowed export backfill (aliases, zone-less UTC)"
HOSTS = ["acme.ada.support"]
BINDINGS = ["tags", "articles", "conversations", "messages"]
PAGE = 2


def config(anchor: datetime) -> dict[str, Any]:
    return {
        "bot_handle": "acme",
        "start_date": (anchor - timedelta(days=20))
        .replace(hour=0, minute=0)
        .isoformat()
        .replace("+00:00", "Z"),
        "credentials": {"credentials_title": "Private App Credentials", "access_token": "fake-token"},
    }


def _export(anchor: datetime) -> dict[str, list[dict[str, Any]]]:
    base = (anchor - timedelta(days=15)).replace(hour=8, minute=0, second=0, microsecond=0).astimezone(UTC)
    conversations = [
        {
            "_id": f"conv{i}",
            "date_created": (base + timedelta(hours=5 * i)).strftime("%Y-%m-%dT%H:%M:%S"),
            "date_updated": (base + timedelta(hours=5 * i, minutes=30)).strftime("%Y-%m-%dT%H:%M:%S"),
            "channel": "web",
            "metavariables": {"lang": "fr" if i % 2 else "en"},
        }
        for i in range(5)
    ]
    messages = [
        {
            "_id": f"msg{i}",
            "conversation_id": f"conv{i // 2}",
            "date_created": (base + timedelta(hours=5 * (i // 2), minutes=i))
            .isoformat()
            .replace("+00:00", "Z"),
            "sender": "bot" if i % 2 else "user",
            "message_data": {"type": "text", "_type": "text", "body": f"hello {i}"},
        }
        for i in range(7)
    ]
    return {"conversations": conversations, "messages": messages}


SNAPSHOTS = {
    "knowledge/tags": [{"id": f"tag{i}", "name": f"Tag {i}"} for i in range(3)],
    "knowledge/articles": [
        {"id": f"art{i}", "name": f"Article {i}", "enabled": i != 2, "tag_ids": ["tag0"]} for i in range(5)
    ],
}
_BOUNDS = {
    "conversations": ("updated_since", "updated_to", "date_updated"),
    "messages": ("created_since", "created_to", "date_created"),
}


def _when(value: str) -> datetime:
    when = datetime.fromisoformat(value)
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def app(anchor: datetime) -> web.Application:
    export = _export(anchor)

    async def snapshot(request: web.Request) -> web.Response:
        require_header(request, "Authorization", "Bearer fake-token")
        rows = SNAPSHOTS[request.match_info["path"]]
        start = int(request.query.get("cursor", "0"))
        meta: dict[str, Any] = {"next_page_uri": None}
        if start + PAGE < len(rows):
            meta["next_page_uri"] = f"/api/v2/{request.match_info['path']}?cursor={start + PAGE}"
        return web.json_response({"data": rows[start : start + PAGE], "meta": meta})

    async def exported(request: web.Request) -> web.Response:
        require_header(request, "Authorization", "Bearer fake-token")
        name = request.match_info["name"]
        lo_param, hi_param, field = _BOUNDS[name]
        lo, hi = _when(request.query[lo_param]), _when(request.query[hi_param])
        rows = sorted((r for r in export[name] if lo <= _when(r[field]) < hi), key=lambda r: r[field])
        page = rows[:PAGE]
        meta: dict[str, Any] = {"next_page_uri": None}
        if len(rows) > PAGE:
            nxt = _when(rows[PAGE][field]).isoformat().replace("+00:00", "Z")
            meta["next_page_uri"] = (
                f"/api/v2/export/{name}?{lo_param}={nxt}&{hi_param}={request.query[hi_param]}"
            )
        return web.json_response({"data": page, "meta": meta})

    app = web.Application()
    app.router.add_get("/api/v2/{path:knowledge/(tags|articles)}", snapshot)
    app.router.add_get("/api/v2/export/{name:(conversations|messages)}", exported)
    return app
