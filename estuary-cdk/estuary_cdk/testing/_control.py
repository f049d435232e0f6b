"""A control API for fake servers: move the clock, script faults and read the request log over
HTTP, for a fake run as its own process (a benchmark, a manual `flowctl preview`, a container)
where a test cannot reach its Python objects.

    app.add_routes(control_routes(clock=clock, faults=plan, requests=log))

* `POST {prefix}/clock` `{"advance_ms": n}` | `{"freeze": true, "at_ms"?: n}` | `{"freeze": false}`
  → `{"now_ms": ...}`; `GET {prefix}/clock` → `{"now_ms": ..., "frozen": ...}`.
* `POST {prefix}/faults` `{"status": 503, "path"?: regex, "method"?: "GET", "times"?: n,
  "retry_after"?: s, "body"?: "..."}` adds a `FaultPlan` rule; `{"clear": true}` removes them all.
  → `{"pending": n}`.
* `GET {prefix}/requests` → `[{"method", "path", "query", "body", "fault", "at"}]` (bodies as
  text); `DELETE {prefix}/requests` clears the log.
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from ._api_clock import ApiClock
from ._faults import FaultPlan, retry_after_value
from ._requests import RequestLog

__all__ = ["control_routes"]


def _bad(message: str) -> web.Response:
    return web.json_response({"error": message}, status=400)


def control_routes(
    *,
    clock: ApiClock | None = None,
    faults: FaultPlan | None = None,
    requests: RequestLog | None = None,
    prefix: str = "/_fake",
) -> list[web.RouteDef]:
    """aiohttp route definitions for the parts given (omit one to leave its routes out)."""
    routes: list[web.RouteDef] = []
    if clock is not None:
        routes += _clock_routes(clock, prefix)
    if faults is not None:
        routes.append(web.post(f"{prefix}/faults", _faults_handler(faults)))
    if requests is not None:
        routes += _request_routes(requests, prefix)
    return routes


def _clock_routes(clock: ApiClock, prefix: str) -> list[web.RouteDef]:
    async def get(_: web.Request) -> web.Response:
        return web.json_response({"now_ms": clock.now_ms(), "frozen": clock.frozen})

    async def post(request: web.Request) -> web.Response:
        body: dict[str, Any] = await request.json()
        if "advance_ms" in body:
            clock.advance(int(body["advance_ms"]))
        elif body.get("freeze") is True:
            clock.freeze(body.get("at_ms"))
        elif body.get("freeze") is False:
            clock.unfreeze()
        else:
            return _bad("expected advance_ms, or freeze: true|false")
        return web.json_response({"now_ms": clock.now_ms(), "frozen": clock.frozen})

    return [web.get(f"{prefix}/clock", get), web.post(f"{prefix}/clock", post)]


def _faults_handler(plan: FaultPlan) -> Any:
    async def post(request: web.Request) -> web.Response:
        body: dict[str, Any] = await request.json()
        if body.get("clear"):
            plan.clear()
            return web.json_response({"pending": plan.pending()})
        if not isinstance(body.get("status"), int):
            return _bad("expected a status (an integer), or clear: true")
        headers = {}
        if body.get("retry_after") is not None:
            headers["Retry-After"] = retry_after_value(body["retry_after"])
        path = body.get("path")
        plan.status(
            body["status"],
            headers=headers,
            body=str(body.get("body", "")).encode(),
            path=re.compile(path) if path else None,
            method=body.get("method"),
            times=body.get("times", 1),
        )
        return web.json_response({"pending": plan.pending()})

    return post


def _request_routes(log: RequestLog, prefix: str) -> list[web.RouteDef]:
    async def get(_: web.Request) -> web.Response:
        return web.json_response(
            [
                {
                    "method": r.method,
                    "path": r.path,
                    "query": dict(r.query),
                    "body": r.body.decode(errors="replace"),
                    "fault": r.fault,
                    "at": r.at,
                }
                for r in log
                if not r.path.startswith(prefix)
            ]
        )

    async def delete(_: web.Request) -> web.Response:
        log.clear()
        return web.json_response({})

    return [web.get(f"{prefix}/requests", get), web.delete(f"{prefix}/requests", delete)]
