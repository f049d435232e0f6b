"""Front: bearer token; snapshot bindings paged by a `page_token` in `_pagination.next` (results
under `_results`, `_links` required), and incremental bindings whose cursors are fractional
epoch seconds in the records (`emitted_at`, `updated_at`) filtered by `q[after]` /
`q[updated_after]` and sorted ascending, so floats travel from the API into documents and
date-time cursors."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web

from . import require_header

CONNECTOR = "source-front"
PATTERN = "snapshots (page tokens) + incremental on fractional epoch timestamps"
HOSTS = ["api2.frontapp.com"]
CONFIG = {
    "start_date": "2025-01-01T00:00:00Z",
    "credentials": {"credentials_title": "Private App Credentials", "access_token": "fake-token"},
}
BINDINGS = ["tags", "teammates", "events", "contacts"]
NOTES = (
    "found a kit difference, fixed: the connector re-validates `record.model_dump()`, whose "
    "`meta_` key the reference keeps as an undeclared field (documents carry `meta_` and a "
    "`_meta` of just `op`); our BaseDocument had `populate_by_name=True` and took it as `_meta` "
    "(no `meta_`, `_meta.row_id` -1). Now populated by alias only, as the reference "
    "(estuary-cdk/estuary_cdk/capture/document.py, tests/test_document_meta_alias.py)"
)
PAGE = 2
_BASE = 1735689600.0  # 2025-01-01T00:00:00Z

DATA: dict[str, list[dict[str, Any]]] = {
    "tags": [
        {"id": f"tag_{i}", "name": f"Tag {i}", "highlight": None, "is_private": i == 2} for i in range(3)
    ],
    "teammates": [{"id": f"tea_{i}", "email": f"t{i}@example.com", "is_available": True} for i in range(5)],
    "events": [
        {
            "id": f"evt_{i}",
            "type": "tag",
            "emitted_at": _BASE + 86400 * i + 0.125 * i,
            "source": {"_meta": {"type": "rule"}},
        }
        for i in range(5)
    ],
    "accounts": [{"id": "acc_0", "name": "Fake Co"}],  # validate's token check
    "contacts": [
        {"id": f"crd_{i}", "name": f"Contact {i}", "updated_at": _BASE + 3600.5 * (i + 1)} for i in range(3)
    ],
}
_CURSORS = {"events": ("after", "emitted_at"), "contacts": ("updated_after", "updated_at")}


def app(anchor: datetime) -> web.Application:
    async def listing(request: web.Request) -> web.Response:
        require_header(request, "Authorization", "Bearer fake-token")
        name = request.match_info["name"]
        if name not in DATA:
            raise web.HTTPNotFound()
        rows = DATA[name]
        if name in _CURSORS:
            q, field = _CURSORS[name]
            since = float(request.query.get(f"q[{q}]", "0"))
            rows = sorted((r for r in rows if r[field] > since), key=lambda r: r[field])
        start = int(request.query.get("page_token", "0"))
        more = start + PAGE < len(rows)
        return web.json_response(
            {
                "_links": {"self": f"https://api2.frontapp.com/{name}"},
                "_results": rows[start : start + PAGE],
                "_pagination": {
                    "next": f"https://api2.frontapp.com/{name}?page_token={start + PAGE}" if more else None
                },
            }
        )

    app = web.Application()
    app.router.add_get("/{name}", listing)
    return app
