"""HubSpot's response conventions: error bodies, `paging.next` with both `after` and `link`,
and the unknown fields a real API adds over time (hubspot.md §1.1, §3, §4.1)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import orjson
from aiohttp import web

from .fake import FakeHubSpot

FAKE_KEY = web.AppKey("fake_hubspot", FakeHubSpot)
"""The `web.Application` key holding the `FakeHubSpot`."""


def fake_of(request: web.Request) -> FakeHubSpot:
    return request.app[FAKE_KEY]


def json(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(
        body=orjson.dumps(body), status=status, content_type="application/json", headers=dict(headers or {})
    )


def error(status: int, message: str, category: str, **extra: Any) -> web.Response:
    body = {"status": "error", "message": message, "correlationId": str(uuid.uuid4()), "category": category}
    return json({**body, **extra}, status)


def bad_request(message: str, **extra: Any) -> web.Response:
    return error(400, message, "VALIDATION_ERROR", **extra)


def paging(request: web.Request, after: object, **params: str) -> dict[str, Any]:
    """`{"next": {"after": ..., "link": ...}}`: Estuary's `PageResult` requires both (§3.1)."""
    query = urlencode({**params, "after": str(after)})
    return {"next": {"after": str(after), "link": f"{request.url.origin()}{request.path}?{query}"}}


def extra(request: web.Request, obj: dict[str, Any]) -> dict[str, Any]:
    """`obj`, plus fields no model declares when the `extra_fields` knob is on."""
    if fake_of(request).knobs.extra_fields:
        obj["fakeNewField"] = {"addedBy": "fake-hubspot", "n": 1}
    return obj


def int_param(request: web.Request, name: str, default: int, low: int = 0, high: int | None = None) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise web.HTTPBadRequest(
            text=orjson.dumps({"status": "error", "message": f"{name} must be an integer"}).decode(),
            content_type="application/json",
        ) from None
    if value < low or (high is not None and value > high):
        raise web.HTTPBadRequest(
            text=orjson.dumps(
                {
                    "status": "error",
                    "message": f"{name}={value} is outside [{low}, {high}]",
                    "category": "VALIDATION_ERROR",
                }
            ).decode(),
            content_type="application/json",
        )
    return value


async def json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        raise web.HTTPBadRequest(
            text='{"status":"error","message":"invalid JSON"}', content_type="application/json"
        ) from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(
            text='{"status":"error","message":"expected an object"}', content_type="application/json"
        )
    return body
