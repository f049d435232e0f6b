"""Serving `FakeHackerNews` on the real API's paths.

`respond()` answers one request; `make_app()` wraps it in an aiohttp `Application` (what tests
use: the fault-injection middleware of `estuary_cdk.testing` plugs into it) and
`make_lowlevel_server()` in aiohttp's bare `web.Server`, which costs less CPU per request (what
the command line and the benchmark use, so the fake server takes less of the machine from the
connector being measured). Control endpoints (under `/_control/`, never used by the connector)
let a test or a demo move the world forward while a capture runs.
"""

import asyncio
import random
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import orjson
from aiohttp import web
from aiohttp.typedefs import Middleware

from .data import STORY_LISTS, FakeHackerNews

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

DATA_KEY = web.AppKey("hn_data", FakeHackerNews)

_LISTS = frozenset(f"/v0/{name}.json" for name in STORY_LISTS)
_NOT_FOUND = (404, orjson.dumps({"error": "Permission denied"}))


def _strip_json(name: str) -> str:
    """`"123.json"` → `"123"`; the real API also answers without the suffix."""
    return name[:-5] if name.endswith(".json") else name


def _get(data: FakeHackerNews, path: str) -> tuple[int, bytes]:
    value: Any
    if path.startswith("/v0/item/"):
        raw = _strip_json(path[9:])
        value = data.item(int(raw)) if raw.isdigit() else None
    elif path.startswith("/v0/user/"):
        value = data.user(_strip_json(path[9:]))
    elif path == "/v0/maxitem.json":
        value = data.maxitem
    elif path == "/v0/updates.json":
        value = data.updates()
    elif path in _LISTS:
        value = data.story_list(path[4:-5])
    elif path == "/_control/state":
        value = {"maxitem": data.maxitem, "step": data.step, "seed": data.seed}
    else:
        return _NOT_FOUND
    return 200, orjson.dumps(value)


def respond(data: FakeHackerNews, method: str, path: str, body: bytes) -> tuple[int, bytes]:
    """Status and JSON body for one request."""
    if method == "GET":
        return _get(data, path)
    if method == "POST" and path == "/_control/advance":
        args = orjson.loads(body) if body else {}
        result = data.advance(
            new_items=int(args.get("new_items", 0)),
            edits=int(args.get("edits", 0)),
            deletes=int(args.get("deletes", 0)),
            delist=int(args.get("delist", 0)),
        )
        return 200, orjson.dumps(result)
    return 405, orjson.dumps({"error": f"{method} is not supported"})


def _handler(
    data: FakeHackerNews, latency_ms: float
) -> Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]:
    delay = latency_ms / 1000

    async def handle(request: web.BaseRequest) -> web.StreamResponse:
        if delay > 0 and request.path.startswith("/v0/"):
            await asyncio.sleep(delay)
        body = await request.read() if request.method == "POST" else b""
        status, payload = respond(data, request.method, request.path, body)
        return web.Response(status=status, body=payload, content_type="application/json")

    return handle


def random_faults_middleware(rate: float, seed: int = 0) -> Middleware:
    """For demos from the command line: each API request fails with probability `rate`, evenly
    split between a 429 (`Retry-After: 1`), a 503 and a connection dropped mid-body. (Tests use
    the deterministic fault plans of `estuary_cdk.testing` instead.)"""
    rng = random.Random(seed)

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith("/v0/") or rng.random() >= rate:
            return await handler(request)
        kind = rng.randrange(3)
        if kind == 0:
            return web.Response(status=429, headers={"Retry-After": "1"}, text="rate limited")
        if kind == 1:
            return web.Response(status=503, text="upstream unavailable")
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.content_length = 1000
        await response.prepare(request)
        await response.write(b'{"id":')
        if request.transport is not None:
            request.transport.abort()
        raise asyncio.CancelledError

    return middleware


def make_app(
    data: FakeHackerNews, *, latency_ms: float = 0, middlewares: Iterable[Middleware] = ()
) -> web.Application:
    """The fake API over `data` as an `Application`. `middlewares` run outermost first (e.g. the
    fault-injection middleware of `estuary_cdk.testing`); latency is applied inside them."""
    app = web.Application(middlewares=list(middlewares))
    app[DATA_KEY] = data
    handle = _handler(data, latency_ms)
    app.router.add_route("GET", "/{path:.*}", handle)
    app.router.add_route("POST", "/{path:.*}", handle)
    return app


def make_lowlevel_server(data: FakeHackerNews, *, latency_ms: float = 0) -> web.Server:
    """The same API on aiohttp's bare server: no router, no middleware, less CPU per request."""
    return web.Server(_handler(data, latency_ms), access_log=None)
