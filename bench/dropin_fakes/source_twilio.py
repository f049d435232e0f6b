"""Twilio, an Airbyte-CDK connector run through the kit's Airbyte shim (pydantic v1,
`requests` patched by `requests_session_send_patch`): the accounts listing (paged by
`next_page_uri`), two child streams per account reached through each account's
`subresource_uris`, and the incremental calls of every account in yearly `EndTime>`/`EndTime<`
slices (RFC 2822 dates turned into ISO by the connector); basic auth."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

from aiohttp import web

from . import require_header

CONNECTOR = "source-twilio"
PATTERN = "Airbyte shim (full refresh, nested and incremental streams)"
HOSTS = ["api.twilio.com"]
CONFIG = {"account_sid": "AC0", "auth_token": "fake-token", "start_date": "2025-01-01T00:00:00Z"}
BINDINGS = ["accounts", "addresses", "applications", "calls"]
_AUTH = "Basic " + base64.b64encode(b"AC0:fake-token").decode()
_V = "/2010-04-01"
PAGE = 2


def _rfc(when: datetime) -> str:
    return format_datetime(when, usegmt=False).replace("-0000", "+0000")


def _data() -> dict[str, list[dict[str, Any]]]:
    base = datetime(2025, 2, 1, 9, 30, tzinfo=UTC)
    accounts, children = [], {}
    for a in range(3):
        sid = f"AC{a}"
        accounts.append(
            {
                "sid": sid,
                "owner_account_sid": "AC0",
                "friendly_name": f"Account {a}",
                "status": "active",
                "type": "Full",
                "date_created": _rfc(base + timedelta(days=a)),
                "date_updated": _rfc(base + timedelta(days=a, hours=1)),
                "uri": f"{_V}/Accounts/{sid}.json",
                "subresource_uris": {
                    "addresses": f"{_V}/Accounts/{sid}/Addresses.json",
                    "applications": f"{_V}/Accounts/{sid}/Applications.json",
                    "calls": f"{_V}/Accounts/{sid}/Calls.json",
                },
            }
        )
        children[f"{sid}/Addresses"] = [
            {
                "sid": f"AD{a}{i}",
                "account_sid": sid,
                "city": "Lyon",
                "validated": bool(i % 2),
                "date_created": _rfc(base + timedelta(days=10 + i)),
            }
            for i in range(a + 1)
        ]
        children[f"{sid}/Applications"] = [
            {
                "sid": f"AP{a}{i}",
                "account_sid": sid,
                "friendly_name": f"app {i}",
                "voice_caller_id_lookup": False,
                "date_updated": _rfc(base + timedelta(days=20 + i)),
            }
            for i in range(2 if a != 1 else 0)
        ]
        children[f"{sid}/Calls"] = [
            {
                "sid": f"CA{a}{i}",
                "account_sid": sid,
                "status": "completed",
                "duration": 30 + i,
                "price": -0.01 * i,
                "start_time": _rfc(base + timedelta(days=40 * i, hours=a)),
                "end_time": _rfc(base + timedelta(days=40 * i, hours=a, minutes=5)),
            }
            for i in range(3)
        ]
    return {"Accounts": accounts, **children}


def _page(request: web.Request, key: str, rows: list[dict[str, Any]]) -> web.Response:
    page = int(request.query.get("Page", "0"))
    body: dict[str, Any] = {key: rows[page * PAGE : (page + 1) * PAGE], "next_page_uri": None}
    if (page + 1) * PAGE < len(rows):
        body["next_page_uri"] = f"{request.path}?PageSize={PAGE}&Page={page + 1}&PageToken=PT{page + 1}"
    return web.json_response(body)


def app(anchor: datetime) -> web.Application:
    data = _data()

    async def accounts(request: web.Request) -> web.Response:
        require_header(request, "Authorization", _AUTH)
        return _page(request, "accounts", data["Accounts"])

    async def child(request: web.Request) -> web.Response:
        require_header(request, "Authorization", _AUTH)
        sid, kind = request.match_info["sid"], request.match_info["kind"]
        rows = data.get(f"{sid}/{kind}")
        if rows is None:
            return web.json_response({"code": 20404, "message": "not found"}, status=404)
        if kind == "Calls":
            lo, hi = request.query.get("EndTime>"), request.query.get("EndTime<")

            def day(r: dict[str, Any]) -> str:
                return datetime.strptime(r["end_time"], "%a, %d %b %Y %H:%M:%S %z").strftime("%Y-%m-%d")

            rows = [r for r in rows if (lo is None or day(r) > lo) and (hi is None or day(r) < hi)]
        return _page(request, kind.lower(), rows)

    app = web.Application()
    app.router.add_get(f"{_V}/Accounts.json", accounts)
    app.router.add_get(f"{_V}/Accounts/{{sid}}/{{kind}}.json", child)
    return app
