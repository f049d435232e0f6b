"""AppsFlyer: webhook bindings (the connector's own webhook server on port 8080, one binding per
event type discovered from the push API's event-types listing, documents routed by the body's
`event_type`) and a pull report read as CSV (`request_stream` and the kit's incremental CSV
processor) for two apps, one subtask per app (`fetch_changes` and `fetch_page` as dicts), in
two-day windows from a start date three days before the harness's anchor."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web

from . import require_header

CONNECTOR = "source-appsflyer"
PATTERN = "webhooks; CSV report with one subtask per app (multiple accounts)"
HOSTS = ["hq1.appsflyer.com"]
APPS = ["com.acme.a", "com.acme.b"]
BINDINGS = ["install", "in-app-event", "daily_geo_aggregate_report"]
NOTES = (
    "webhooks posted to 127.0.0.1:8080 after the first checkpoint. Legitimate difference: our kit "
    "writes `_meta.webhookId` (a uuid4, the default collection key of webhook bindings) and "
    "`_meta.receivedAt` (now) into every webhook document; the reference leaves both out (model "
    "defaults, dropped by its `exclude_unset` output), so a binding keyed on `/_meta/webhookId` "
    "gets documents without their key there. Both are per-run values, so they are left out of "
    "the comparison"
)
DROP_FIELDS = ["/_meta/webhookId", "/_meta/receivedAt"]
_HEADER = ["Date", "Country", "Media Source (pid)", "Campaign (c)", "Impressions", "Clicks", "Installs"]


def config(anchor: datetime) -> dict[str, Any]:
    return {
        "app_ids": ",".join(APPS),
        "start_date": (anchor - timedelta(days=3)).replace(hour=0, minute=0).isoformat(),
        "credentials": {"credentials_title": "Private App Credentials", "access_token": "fake-token"},
        "advanced": {"window_size": "P2D"},
    }


def _webhook(event_type: str, i: int) -> dict[str, Any]:
    return {
        "event_type": event_type,
        "app_id": APPS[i % 2],
        "appsflyer_id": f"af-{i}",
        "campaign_type": "ua",
        "conversion_type": "install",
        "event_name": "install" if event_type == "install" else f"purchase_{i}",
        "event_time": f"2025-05-0{1 + i} 10:00:00.000",
        "media_source": "fakeads",
    }


WEBHOOKS = [("/", _webhook("install", i)) for i in range(3)] + [
    ("/", _webhook("in-app-event", i)) for i in range(2)
]


def _rows(app: str, anchor: datetime) -> list[dict[str, str]]:
    day0 = (anchor - timedelta(days=3)).date()
    return [
        {
            "Date": (day0 + timedelta(days=d)).isoformat(),
            "Country": country,
            "Media Source (pid)": "fakeads",
            "Campaign (c)": f"{app}-spring",
            "Impressions": str(100 * d + len(country)),
            "Clicks": str(d),
            "Installs": str(d % 2),
        }
        for d in range(3)
        for country in ("FR", "US")
    ]


def app(anchor: datetime) -> web.Application:
    async def event_types(request: web.Request) -> web.Response:
        require_header(request, "Authorization", "Bearer fake-token")
        entity = request.match_info["entity"]
        types = ["install", "in-app-event"] if entity == "appsflyer" else []
        return web.json_response({"event_types": types})

    async def geo_daily(request: web.Request) -> web.Response:
        require_header(request, "Authorization", "Bearer fake-token")
        app_id = request.match_info["app"]
        if app_id not in APPS:
            raise web.HTTPNotFound()
        lo, hi = request.query["from"], request.query["to"]
        out = io.StringIO()
        writer = csv.DictWriter(out, _HEADER, lineterminator="\n")
        writer.writeheader()
        for row in _rows(app_id, anchor):
            if lo <= row["Date"] <= hi:
                writer.writerow(row)
        return web.Response(text=out.getvalue(), content_type="text/csv")

    app = web.Application()
    app.router.add_get("/api/pushapi/v1.0/event-types/{entity}", event_types)
    app.router.add_get("/api/agg-data/export/app/{app}/geo_by_date_report/v5", geo_daily)
    return app
