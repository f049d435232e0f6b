"""Google Sheets: OAuth2 refresh_token grant (non-rotating) at Google's token endpoint, then one
snapshot binding per sheet, discovered from the spreadsheet's metadata; rows read as a stream
of grid data (`request_stream`, the kit's incremental JSON processor), the frozen first row
naming the columns, and numbers typed by their format: plain (Decimal), DATE and DATE_TIME
(days since 1899-12-30 in the spreadsheet's time zone), so documents carry decimals, dates and
zoned date-times as the kit serializes them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web

from . import oauth

CONNECTOR = "source-google-sheets-native"
PATTERN = "OAuth2 refresh token (Google); snapshots of streamed grid data; decimals, dates, zoned date-times"
HOSTS = ["sheets.googleapis.com", "oauth2.googleapis.com"]
SHEET_ID = "1FakeSpreadsheetId0123456789abcdef"
CONFIG = {
    "spreadsheet_url": f"https://docs.google.com/spreadsheets/d/{SHEET_ID}/edit",
    "credentials": {
        "credentials_title": "OAuth Credentials",
        "client_id": "fake-client",
        "client_secret": "fake-secret",
        "refresh_token": "fake-refresh-1",
    },
}
BINDINGS = ["Orders", "People"]


def _cell(value: Any, kind: str | None = None) -> dict[str, Any]:
    if isinstance(value, bool):
        ev: dict[str, Any] = {"boolValue": value}
    elif isinstance(value, int | float):
        ev = {"numberValue": value}
    else:
        ev = {"stringValue": value}
    cell: dict[str, Any] = {"effectiveValue": ev}
    if kind:
        cell["effectiveFormat"] = {"numberFormat": {"type": kind}}
    return cell


SHEETS: dict[str, list[list[dict[str, Any]]]] = {
    "Orders": [
        [_cell("id"), _cell("amount"), _cell("placed"), _cell("paid_at"), _cell("gift")],
        *[
            [
                _cell(i + 1, "NUMBER"),
                _cell(round(19.99 * (i + 1), 2), "CURRENCY"),
                _cell(45658 + i, "DATE"),
                _cell(45658.5 + i + i / 96, "DATE_TIME"),
                _cell(i % 2 == 0),
            ]
            for i in range(6)
        ],
        [],
    ],
    "People": [
        [_cell("name"), _cell("score")],
        *[[_cell(f"Person {i}"), _cell(0.1 * i)] for i in range(4)],
    ],
}


def _properties(index: int, title: str) -> dict[str, Any]:
    rows = SHEETS[title]
    return {
        "properties": {
            "sheetId": index,
            "title": title,
            "index": index,
            "sheetType": "GRID",
            "gridProperties": {
                "rowCount": len(rows),
                "columnCount": max(len(r) for r in rows),
                "frozenRowCount": 1,
            },
        }
    }


def app(anchor: datetime) -> web.Application:
    meta = {"title": "Fake", "locale": "en_US", "autoRecalc": "ON_CHANGE", "timeZone": "Europe/Paris"}

    async def spreadsheet(request: web.Request) -> web.Response:
        oauth.require_bearer(request)
        if request.match_info["id"] != SHEET_ID:
            raise web.HTTPNotFound()
        ranges = request.query.getall("ranges", [])
        titles = [t for t in SHEETS if not ranges or t in ranges]
        fields = request.query.get("fields", "")
        if fields.startswith("sheets.data"):
            return web.json_response(
                {
                    "sheets": [
                        {"data": [{"rowData": [{"values": r} if r else {} for r in SHEETS[t]]}]}
                        for t in titles
                    ]
                }
            )
        sheets = [_properties(i, t) for i, t in enumerate(SHEETS) if t in titles]
        return web.json_response({"spreadsheetId": SHEET_ID, "properties": meta, "sheets": sheets})

    app = web.Application()
    oauth.add_routes(app, "/token", "fake-refresh-1", "fake-client", "fake-secret")
    app.router.add_get("/v4/spreadsheets/{id}", spreadsheet)
    return app
