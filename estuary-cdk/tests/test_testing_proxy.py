"""The fault proxy (estuary_cdk.testing.serve_proxy) forwards faithfully, and each named preset
reaches a client through it as described: 429 storms with and without Retry-After, 5xx bursts,
resets, truncated, dripping, stalled, huge and gzip-bomb bodies, invalid JSON, redirect loops."""

from __future__ import annotations

import asyncio
import gzip
import json
import zlib
from collections.abc import Iterator

import aiohttp
import pytest
from aiohttp import web
from estuary_cdk.testing import PRESETS, LocalServer, apply_preset, serve_app_in_thread, serve_proxy

ITEMS = {"items": list(range(200))}


def _upstream() -> web.Application:
    async def items(request: web.Request) -> web.Response:
        return web.json_response(
            {**ITEMS, "q": request.query.get("q"), "auth": request.headers.get("Authorization")}
        )

    async def echo(request: web.Request) -> web.Response:
        return web.Response(status=201, body=await request.read(), headers={"X-Echo": "yes"})

    async def compressed(request: web.Request) -> web.Response:
        body = gzip.compress(json.dumps(ITEMS).encode())
        return web.Response(
            body=body, headers={"Content-Encoding": "gzip", "Content-Type": "application/json"}
        )

    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPFound("/v1/items")

    app = web.Application()
    app.router.add_get("/v1/items", items)
    app.router.add_post("/v1/echo", echo)
    app.router.add_get("/v1/gz", compressed)
    app.router.add_get("/v1/moved", moved)
    return app


@pytest.fixture
def upstream() -> Iterator[LocalServer]:
    with serve_app_in_thread(_upstream) as server:
        yield server


async def test_requests_and_answers_pass_through(upstream: LocalServer) -> None:
    with serve_proxy(upstream.url) as proxy:
        async with aiohttp.ClientSession() as client:
            async with client.get(
                proxy.url_for("/v1/items?q=a%20b"), headers={"Authorization": "Bearer t"}
            ) as r:
                assert r.status == 200
                assert await r.json() == {**ITEMS, "q": "a b", "auth": "Bearer t"}
            async with client.post(proxy.url_for("/v1/echo"), data=b"payload") as r:
                assert (r.status, await r.read(), r.headers["X-Echo"]) == (201, b"payload", "yes")
            async with client.get(proxy.url_for("/v1/gz")) as r:
                assert await r.json() == ITEMS  # decoded once, not twice
            async with client.get(proxy.url_for("/v1/moved"), allow_redirects=False) as r:
                assert r.status == 302 and r.headers["Location"] == "/v1/items"  # the client's to follow
    assert proxy.requests.paths() == ["/v1/items?q=a b", "/v1/echo", "/v1/gz", "/v1/moved"]
    assert upstream.requests.count() == 4


async def _statuses(url: str, count: int, **kwargs: object) -> list[tuple[int, str | None]]:
    async with aiohttp.ClientSession() as client:
        out = []
        for _ in range(count):
            async with client.get(url, **kwargs) as r:  # type: ignore[arg-type]
                out.append((r.status, r.headers.get("Retry-After")))
        return out


async def test_429_storms_with_and_without_retry_after(upstream: LocalServer) -> None:
    with serve_proxy(upstream.url, preset="429-storm") as proxy:
        seen = await _statuses(proxy.url_for("/v1/items"), 31)
        assert seen[:30] == [(429, None)] * 30 and seen[30] == (200, None)
    with serve_proxy(upstream.url) as proxy:
        apply_preset(proxy.faults, "429-storm-retry-after", times=3, path="/v1/items")
        assert await _statuses(proxy.url_for("/v1/items"), 4) == [(429, "1")] * 3 + [(200, None)]


async def test_a_5xx_burst_cycles_through_server_errors(upstream: LocalServer) -> None:
    with serve_proxy(upstream.url, preset="5xx-burst") as proxy:
        seen = [s for s, _ in await _statuses(proxy.url_for("/v1/items"), 9)]
        assert seen == [500, 502, 503, 504, 500, 502, 503, 504, 200]
        assert proxy.requests.faults()[:2] == ["status:500", "status:502"]


async def test_resets_and_truncated_bodies_fail_the_read(upstream: LocalServer) -> None:
    with serve_proxy(upstream.url, preset="resets") as proxy:
        async with aiohttp.ClientSession() as client:
            failures = 0
            for _ in range(3):
                try:
                    async with client.get(proxy.url_for("/v1/items")) as r:
                        await r.read()
                except (aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError, aiohttp.ClientOSError):
                    failures += 1
            assert failures == 3
        assert {f for f in proxy.requests.faults() if f} == {"disconnect:abort", "drop"}
    with serve_proxy(upstream.url, preset="truncated") as proxy:
        async with aiohttp.ClientSession() as client:
            with pytest.raises(aiohttp.ClientPayloadError):
                async with client.get(proxy.url_for("/v1/items")) as r:
                    await r.read()


async def test_dripping_and_stalled_bodies_never_finish_in_time(upstream: LocalServer) -> None:
    for name in ("dripping", "stalled-body"):
        with serve_proxy(upstream.url, preset=name) as proxy:
            async with aiohttp.ClientSession() as client:
                async with client.get(proxy.url_for("/v1/items")) as r:
                    assert r.status == 200
                    with pytest.raises(TimeoutError):
                        await asyncio.wait_for(r.read(), 1.2)


async def test_huge_and_gzip_bomb_bodies_are_what_they_say(upstream: LocalServer) -> None:
    with serve_proxy(upstream.url, preset="huge") as proxy:
        async with aiohttp.ClientSession() as client:
            async with client.get(proxy.url_for("/v1/items")) as r:
                # read() returns what has arrived, which under load can be a few bytes.
                first = await r.content.readexactly(len(b'{"pad": "xxx'))
                assert (
                    r.status == 200
                    and "Content-Length" not in r.headers
                    and first.startswith(b'{"pad": "xxx')
                )
    with serve_proxy(upstream.url, preset="gzip-bomb") as proxy:
        async with aiohttp.ClientSession(auto_decompress=False) as client:
            async with client.get(proxy.url_for("/v1/items")) as r:
                assert r.headers["Content-Encoding"] == "gzip"
                compressed = await r.content.readexactly(64 << 10)
    inflated = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(compressed)
    assert set(inflated) == {0} and len(inflated) > 500 * len(compressed)


async def test_invalid_json_with_200_and_a_redirect_loop(upstream: LocalServer) -> None:
    with serve_proxy(upstream.url, preset="invalid-json") as proxy:
        async with aiohttp.ClientSession() as client:
            async with client.get(proxy.url_for("/v1/items")) as r:
                assert r.status == 200 and r.content_type == "application/json"
                with pytest.raises(json.JSONDecodeError):
                    json.loads(await r.read())
            async with client.get(proxy.url_for("/v1/items")) as r:
                assert (await r.json())["items"] == ITEMS["items"]  # once only
    before = upstream.requests.count()
    with serve_proxy(upstream.url, preset="redirect-loop") as proxy:
        async with aiohttp.ClientSession() as client:
            with pytest.raises(aiohttp.TooManyRedirects):
                async with client.get(proxy.url_for("/v1/items"), max_redirects=5):
                    pass
        assert proxy.requests.count() >= 5 and upstream.requests.count() == before  # never reached


def test_every_preset_is_described_and_an_unknown_one_is_named() -> None:
    assert set(PRESETS) >= {
        "429-storm",
        "429-storm-retry-after",
        "5xx-burst",
        "resets",
        "truncated",
        "dripping",
        "huge",
        "gzip-bomb",
        "invalid-json",
        "redirect-loop",
    }
    assert all(p.description for p in PRESETS.values())
    with pytest.raises(KeyError, match="no fault preset 'hail'; presets: 429-storm, "):
        with serve_proxy("http://127.0.0.1:9", preset="hail"):
            pass
