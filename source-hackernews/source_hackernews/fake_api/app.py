"""The aiohttp application serving `FakeHackerNews` on the real API's paths.

Control endpoints (under `/_control/`, never used by the connector) let a test or a demo move
the world forward while a capture runs.
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


def _json(value: Any) -> web.Response:
    return web.Response(body=orjson.dumps(value), content_type="application/json")


def _strip_json(name: str) -> str:
    """`"123.json"` → `"123"`; the real API also answers without the suffix."""
    return name[:-5] if name.endswith(".json") else name


async def _item(request: web.Request) -> web.Response:
    raw = _strip_json(request.match_info["id"])
    if not raw.isdigit():
        return _json(None)
    return _json(request.app[DATA_KEY].item(int(raw)))


async def _user(request: web.Request) -> web.Response:
    return _json(request.app[DATA_KEY].user(_strip_json(request.match_info["id"])))


async def _maxitem(request: web.Request) -> web.Response:
    return _json(request.app[DATA_KEY].maxitem)


async def _updates(request: web.Request) -> web.Response:
    return _json(request.app[DATA_KEY].updates())


def _list_handler(name: str) -> Handler:
    async def handler(request: web.Request) -> web.Response:
        return _json(request.app[DATA_KEY].story_list(name))

    return handler


async def _advance(request: web.Request) -> web.Response:
    raw = await request.read()
    body = orjson.loads(raw) if raw else {}
    data = request.app[DATA_KEY]
    result = data.advance(
        new_items=int(body.get("new_items", 0)),
        edits=int(body.get("edits", 0)),
        deletes=int(body.get("deletes", 0)),
        delist=int(body.get("delist", 0)),
    )
    return _json(result)


async def _state(request: web.Request) -> web.Response:
    data = request.app[DATA_KEY]
    return _json({"maxitem": data.maxitem, "step": data.step, "seed": data.seed})


def latency_middleware(seconds: float) -> Middleware:
    """Delay every API response by `seconds`, like a distant server would."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith("/v0/"):
            await asyncio.sleep(seconds)
        return await handler(request)

    return middleware


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
    """The fake API over `data`. `middlewares` run outermost first (e.g. the fault-injection
    middleware of `estuary_cdk.testing`); latency is applied inside them."""
    chain = list(middlewares)
    if latency_ms > 0:
        chain.append(latency_middleware(latency_ms / 1000))
    app = web.Application(middlewares=chain)
    app[DATA_KEY] = data
    app.router.add_get("/v0/item/{id}", _item)
    app.router.add_get("/v0/user/{id}", _user)
    app.router.add_get("/v0/maxitem.json", _maxitem)
    app.router.add_get("/v0/updates.json", _updates)
    for name in STORY_LISTS:
        app.router.add_get(f"/v0/{name}.json", _list_handler(name))
    app.router.add_post("/_control/advance", _advance)
    app.router.add_get("/_control/state", _state)
    return app
