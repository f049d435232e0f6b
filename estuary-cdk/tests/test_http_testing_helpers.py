"""The local test server and fault injection (estuary_cdk.testing) behave as documented."""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import aiohttp
import pytest
from aiohttp import web
from estuary_cdk.testing import FakeClock, serve_app, serve_app_in_thread


async def _items(request: web.Request) -> web.Response:
    return web.json_response({"items": list(range(500)), "q": request.query.get("q")})


def _app() -> web.Application:
    app = web.Application()
    app.router.add_get("/items", _items)
    app.router.add_post("/echo", _echo)
    return app


async def _echo(request: web.Request) -> web.Response:
    return web.Response(body=await request.read())


async def test_in_loop_server_logs_requests_and_applies_faults_in_order() -> None:
    async with serve_app(_app()) as server:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", server.url)
        server.faults.rate_limit(path="/items", retry_after=3)
        when = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)
        server.faults.rate_limit(path="/items", retry_after=when)
        server.faults.server_errors(path="/items")
        async with aiohttp.ClientSession() as client:
            seen = []
            for _ in range(6):
                async with client.get(server.url_for("/items"), params={"q": "x"}) as resp:
                    seen.append((resp.status, resp.headers.get("Retry-After")))
                    body = await resp.read()
            assert seen[:5] == [
                (429, "3"),
                (429, "Tue, 01 Jan 2030 12:00:00 GMT"),
                (500, None),
                (502, None),
                (503, None),
            ]
            assert parsedate_to_datetime(seen[1][1] or "") == when
            assert seen[5] == (200, None)
            assert b'"q": "x"' in body
            async with client.post(server.url_for("/echo"), data=b"hello") as resp:
                assert await resp.read() == b"hello"
    assert server.requests.faults() == [
        "status:429",
        "status:429",
        "status:500",
        "status:502",
        "status:503",
        None,
        None,
    ]
    assert server.requests.paths()[0] == "/items?q=x"
    assert server.requests.count("/items") == 6
    assert server.requests.matching("/echo", "POST")[0].body == b"hello"
    assert server.faults.pending() == 0


async def test_body_faults_break_the_payload() -> None:
    async with serve_app(_app()) as server:
        drop = server.faults.drop_connection(path="/items", keep_bytes=10)
        server.faults.truncate_body(path=re.compile(r"/it.*"), keep_bytes=20)
        async with aiohttp.ClientSession() as client:
            for _ in range(2):
                with pytest.raises(aiohttp.ClientPayloadError):
                    async with client.get(server.url_for("/items")) as resp:
                        assert resp.status == 200
                        await resp.read()
            async with client.get(server.url_for("/items")) as resp:
                assert len(await resp.read()) > 1000
        assert drop.fired == 1 and drop.remaining == 0
    assert server.requests.faults() == ["drop", "truncate", None]


async def test_latency_past_client_timeout_then_recovers() -> None:
    async with serve_app(_app()) as server:
        server.faults.latency(30, path="/items", times=1)
        async with aiohttp.ClientSession() as client:
            with pytest.raises(TimeoutError):
                async with client.get(
                    server.url_for("/items"), timeout=aiohttp.ClientTimeout(total=0.2)
                ) as resp:
                    await resp.read()
            server.faults.slow_body(0.001, chunk_bytes=512, path="/items")
            async with client.get(server.url_for("/items")) as resp:
                assert (await resp.json())["items"][-1] == 499
    assert server.requests.faults() == ["latency:30", "slow-body:0.001"]


def test_threaded_server_for_blocking_clients() -> None:
    with serve_app_in_thread(_app) as server:
        server.faults.status(503, path="/items", times=1)
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(server.url_for("/items"))
        assert err.value.code == 503
        err.value.close()
        with urllib.request.urlopen(server.url_for("/items")) as resp:
            assert resp.status == 200
        assert len(server.requests) == 2


async def test_fake_clock_records_sleeps() -> None:
    clock = FakeClock()
    start_mono, start_wall = clock.monotonic(), clock.time()
    await clock.sleep(1.5)
    await clock.sleep(-1)
    clock.advance(10)
    assert clock.sleeps == [1.5, 0.0]
    assert clock.monotonic() - start_mono == pytest.approx(11.5)
    assert clock.time() - start_wall == pytest.approx(11.5)
    assert clock.now().tzinfo is UTC


def test_threaded_server_reachable_from_a_subprocess() -> None:
    import subprocess
    import sys

    with serve_app_in_thread(_app) as server:
        server.faults.latency(0.05, path="/items", times=1)
        code = (
            "import json, sys, urllib.request\n"
            f"body = urllib.request.urlopen('{server.url_for('/items')}?q=sub').read()\n"
            "print(json.loads(body)['q'])\n"
        )
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
        )
    assert out.stdout.strip() == "sub"
    assert server.requests.faults() == ["latency:0.05"]


def test_capture_logger_sees_children_and_events() -> None:
    from estuary_cdk.testing import capture_logger

    log, capture = capture_logger()
    log.getChild("capture.items").info("from a child", {"n": 1})
    log.event.status("Backfilling 1 of 1 bindings")
    assert capture.messages() == ["from a child", "Backfilling 1 of 1 bindings"]
    assert capture.lines[0]["fields"]["args"] == {"n": 1}
    assert [e["msg"] for e in capture.events("connectorStatus")] == ["Backfilling 1 of 1 bindings"]


async def test_hostile_answers_and_an_unused_url() -> None:
    """huge_body / gzip_bomb / disconnect / stall_body answer as documented, to any client."""
    import gzip
    import zlib

    from estuary_cdk.testing import unused_url

    async with serve_app(_app()) as server:
        server.faults.huge_body(3 << 20, declare_length=True, path="/items")
        server.faults.huge_body(100_000, path="/items")
        server.faults.gzip_bomb(10 << 20, path="/items")
        server.faults.disconnect(path="/items", times=2)  # aiohttp re-sends a GET once (see Disconnect)
        server.faults.stall_body(keep_bytes=7, seconds=0.2, path="/items")
        async with aiohttp.ClientSession() as client:
            async with client.get(server.url_for("/items")) as resp:
                assert resp.content_length == 3 << 20
                body = await resp.read()
                assert len(body) == 3 << 20 and body.startswith(b'{"pad": "xxx') and body.endswith(b'x"}')
            async with client.get(server.url_for("/items")) as resp:
                assert resp.content_length is None and len(await resp.read()) == 100_000
            async with client.get(server.url_for("/items"), auto_decompress=False) as resp:
                assert resp.headers["Content-Encoding"] == "gzip"
                compressed = await resp.read()
            assert len(compressed) < (10 << 20) // 500
            assert zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(compressed) == bytes(10 << 20)
            assert gzip.decompress(compressed) == bytes(10 << 20)
            with pytest.raises(aiohttp.ServerDisconnectedError):
                async with client.get(server.url_for("/items")) as resp:
                    pass
            with pytest.raises(aiohttp.ClientPayloadError):
                async with client.get(server.url_for("/items")) as resp:
                    assert (await resp.content.read(7)) == b'{"items'
                    await resp.read()
        with pytest.raises(aiohttp.ClientConnectorError):
            async with aiohttp.ClientSession() as client, client.get(unused_url("/x")):
                pass
    assert server.requests.faults() == [
        f"huge-body:{3 << 20}",
        "huge-body:100000",
        f"gzip-bomb:{10 << 20}",
        "disconnect:close",
        "disconnect:close",
        "stall",
    ]


async def test_time_lapse_clock_runs_in_real_time_and_skips_sleeps() -> None:
    import asyncio

    clock = FakeClock(real_time=True)
    start = clock.monotonic()
    await asyncio.sleep(0.05)  # real time passes on it...
    await clock.sleep(600)  # ...and a sleep returns at once but counts
    elapsed = clock.monotonic() - start
    assert 600.05 <= elapsed < 601 and clock.sleeps == [600]
    with pytest.raises(ValueError, match="no manual mode"):
        FakeClock(real_time=True, auto_advance=False)


async def test_fake_clock_a_sleep_below_the_clocks_resolution_still_moves_it() -> None:
    """A token bucket a hair short of a token asks for a 2e-14 s wait, which added to 1000.0 is
    1000.0 again: a loop that sleeps until the bucket refills would spin forever on a clock that
    did not move at all."""
    clock = FakeClock()
    before = clock.monotonic()
    await clock.sleep(2e-14)
    assert clock.monotonic() > before
    assert clock.sleeps == [2e-14]
    await clock.sleep(0)
    assert clock.sleeps == [2e-14, 0.0]
