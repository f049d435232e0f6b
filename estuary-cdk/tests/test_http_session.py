"""HTTPMixin against a real local server: bodies, streaming, retries and their waits."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import AsyncIterator

import aiohttp
import orjson
import pytest
from aiohttp import web
from estuary_cdk.http import HTTPConnectionError, HTTPError, HTTPMixin, ResponseBodyError, RetryPolicy
from estuary_cdk.testing import (
    FakeClock,
    LocalServer,
    LogCapture,
    capture_logger,
    open_http_session,
    serve_app,
)
from estuary_cdk.testing._session import FlowLogger

PAGES = 20
PAGE_SIZE = 50


async def _page(request: web.Request) -> web.Response:
    page = int(request.match_info["n"])
    return web.json_response([{"id": page * PAGE_SIZE + i} for i in range(PAGE_SIZE)])


async def _echo(request: web.Request) -> web.Response:
    return web.json_response(
        {
            "method": request.method,
            "query": [[k, v] for k, v in request.query.items()],
            "content_type": request.headers.get("Content-Type"),
            "x_custom": request.headers.get("X-Custom"),
            "body": (await request.read()).decode(),
        }
    )


async def _gzip(request: web.Request) -> web.Response:
    return web.Response(body=gzip.compress(b'{"compressed": "gzip"}'), headers={"Content-Encoding": "gzip"})


async def _deflate(request: web.Request) -> web.Response:
    return web.Response(
        body=zlib.compress(b'{"compressed": "deflate"}'), headers={"Content-Encoding": "deflate"}
    )


async def _lines(request: web.Request) -> web.StreamResponse:
    resp = web.StreamResponse()
    await resp.prepare(request)
    for piece in (b"alpha\nbe", b"ta\n", b"\ngam", b"ma\r\ndelta\r", b"\nomega"):
        await resp.write(piece)
    await resp.write_eof()
    return resp


def _app() -> web.Application:
    app = web.Application()
    app.router.add_get("/pages/{n}", _page)
    app.router.add_route("*", "/echo", _echo)
    app.router.add_get("/gzip", _gzip)
    app.router.add_get("/deflate", _deflate)
    app.router.add_get("/lines", _lines)
    return app


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def logged() -> tuple[FlowLogger, LogCapture]:
    return capture_logger()


@pytest.fixture
async def server() -> AsyncIterator[LocalServer]:
    async with serve_app(_app()) as srv:
        yield srv


@pytest.fixture
async def http(clock: FakeClock, logged: tuple[FlowLogger, LogCapture]) -> AsyncIterator[HTTPMixin]:
    async with open_http_session(
        logged[0], clock=clock, retry_policy=RetryPolicy(jitter=0, max_attempts=5)
    ) as s:
        yield s


async def _fetch_all(http: HTTPMixin, log: FlowLogger, server: LocalServer) -> list[int]:
    ids: list[int] = []
    for page in range(PAGES):
        ids.extend(
            doc["id"] for doc in orjson.loads(await http.request(log, server.url_for(f"/pages/{page}")))
        )
    return ids


EXPECTED = list(range(PAGES * PAGE_SIZE))


async def test_no_warm_up_delay(http: HTTPMixin, server: LocalServer, clock: FakeClock, logged) -> None:
    assert await _fetch_all(http, logged[0], server) == EXPECTED
    assert clock.sleeps == []
    assert server.requests.count() == PAGES


async def test_bodies_params_headers(http: HTTPMixin, server: LocalServer, logged) -> None:
    log = logged[0]
    got = orjson.loads(
        await http.request(
            log,
            server.url_for("/echo"),
            "POST",
            params={"a": "1", "b": "x y"},
            json={"k": [1, 2]},
            headers={"X-Custom": "yes"},
        )
    )
    assert got["method"] == "POST"
    assert got["query"] == [["a", "1"], ["b", "x y"]]
    assert got["content_type"] == "application/json"
    assert orjson.loads(got["body"]) == {"k": [1, 2]}
    assert got["x_custom"] == "yes"

    got = orjson.loads(await http.request(log, server.url_for("/echo"), "PUT", form={"f": "v", "g": "w&"}))
    assert got["content_type"] == "application/x-www-form-urlencoded"
    assert got["body"] == "f=v&g=w%26"

    got = orjson.loads(
        await http.request(
            log,
            server.url_for("/echo"),
            "POST",
            data=b"\x00raw",
            headers={"Content-Type": "application/octet-stream"},
        )
    )
    assert got["body"] == "\x00raw" and got["content_type"] == "application/octet-stream"


async def test_compressed_responses(http: HTTPMixin, server: LocalServer, logged) -> None:
    assert orjson.loads(await http.request(logged[0], server.url_for("/gzip"))) == {"compressed": "gzip"}
    assert orjson.loads(await http.request(logged[0], server.url_for("/deflate"))) == {
        "compressed": "deflate"
    }
    assert "gzip" in server.requests[0].headers.get("Accept-Encoding", "")


async def test_request_lines_and_stream(http: HTTPMixin, server: LocalServer, logged) -> None:
    headers, body = await http.request_lines(logged[0], server.url_for("/lines"))
    assert [line async for line in body()] == [b"alpha", b"beta", b"", b"gamma\r", b"delta\r", b"omega"]
    _, body = await http.request_lines(logged[0], server.url_for("/lines"), delim=b"\r\n")
    assert [line async for line in body()] == [b"alpha\nbeta\n\ngamma", b"delta", b"omega"]
    headers, body = await http.request_stream(logged[0], server.url_for("/pages/3"))
    assert headers["Content-Type"].startswith("application/json")
    raw = b"".join([chunk async for chunk in body()])
    assert orjson.loads(raw)[0] == {"id": 3 * PAGE_SIZE}


async def test_429_without_retry_after_backs_off(
    http: HTTPMixin, server: LocalServer, clock: FakeClock, logged
) -> None:
    server.faults.rate_limit(path="/pages/4", times=3)
    assert await _fetch_all(http, logged[0], server) == EXPECTED
    assert clock.sleeps == [1.0, 2.0, 4.0]
    assert server.requests.faults().count("status:429") == 3
    assert http.rate_limiter.failed == 3


async def test_429_with_retry_after_seconds_and_date(
    http: HTTPMixin, server: LocalServer, clock: FakeClock, logged
) -> None:
    log, capture = logged
    server.faults.rate_limit(path="/pages/2", retry_after=7)
    # An HTTP date two minutes past the (fake) wall clock: the wait is long enough to be announced.
    server.faults.rate_limit(path="/pages/5", retry_after=clock.now().replace(minute=2))
    assert await _fetch_all(http, log, server) == EXPECTED
    assert clock.sleeps == [7.0, pytest.approx(120 - 7.0)]
    statuses = capture.events("connectorStatus")
    assert [s["msg"] for s in statuses] == ["waiting on rate limit until 2030-01-01T00:02:00Z"]


async def test_rate_limit_reset_headers(
    http: HTTPMixin, server: LocalServer, clock: FakeClock, logged
) -> None:
    server.faults.rate_limit(path="/pages/1", headers={"RateLimit-Reset": "3"})
    epoch = int(clock.time()) + 11
    server.faults.rate_limit(path="/pages/2", headers={"X-RateLimit-Reset": str(epoch)})
    assert await _fetch_all(http, logged[0], server) == EXPECTED
    assert clock.sleeps == [3.0, pytest.approx(11 - 3.0)]


async def test_5xx_burst_is_retried_with_backoff(
    http: HTTPMixin, server: LocalServer, clock: FakeClock, logged
) -> None:
    log, capture = logged
    server.faults.server_errors((500, 502, 503), path="/pages/7")
    assert await _fetch_all(http, log, server) == EXPECTED
    assert clock.sleeps == [1.0, 2.0, 4.0]
    warnings = [line for line in capture.lines if line["msg"] == "server internal error (will retry)"]
    assert [w["fields"]["args"]["status_code"] for w in warnings] == [500, 502, 503]


async def test_5xx_retries_run_out_with_a_clear_error(
    http: HTTPMixin, server: LocalServer, clock: FakeClock, logged
) -> None:
    server.faults.status(503, path="/pages/0", times=None, body=b"maintenance window " + b"x" * 5000)
    with pytest.raises(HTTPError) as err:
        await http.request(logged[0], server.url_for("/pages/0"), params={"limit": 5})
    assert err.value.code == 503
    assert err.value.url == server.url_for("/pages/0") + "?limit=5"
    message = str(err.value)
    assert "status 503 after 5 attempts" in message
    assert f"URL: {server.url}/pages/0?limit=5" in message
    assert "maintenance window xxx" in message and "[5019 bytes total]" in message
    assert len(message) < 1500
    assert clock.sleeps == [1.0, 2.0, 4.0, 8.0]
    assert server.requests.count("/pages/0") == 5


async def test_4xx_fails_at_once(http: HTTPMixin, server: LocalServer, clock: FakeClock, logged) -> None:
    server.faults.status(
        404, path="/pages/1", body=b'{"error":"no such page"}', headers={"Content-Type": "application/json"}
    )
    with pytest.raises(HTTPError) as err:
        await http.request(logged[0], server.url_for("/pages/1"))
    assert err.value.code == 404
    assert err.value.headers is not None and err.value.headers["Content-Type"] == "application/json"
    assert "status 404 which cannot be retried" in err.value.message
    assert '{"error":"no such page"}' in err.value.message
    assert clock.sleeps == []


async def test_should_retry_can_refuse(
    http: HTTPMixin, server: LocalServer, clock: FakeClock, logged
) -> None:
    seen: list[tuple[int, bytes, int]] = []

    def should_retry(status: int, headers, body: bytes, attempt: int) -> bool:
        seen.append((status, body, attempt))
        return attempt < 2

    server.faults.status(500, path="/pages/1", times=None, body=b"boom")
    with pytest.raises(HTTPError) as err:
        await http.request(logged[0], server.url_for("/pages/1"), should_retry=should_retry)
    assert err.value.code == 500
    assert seen == [(500, b"boom", 1), (500, b"boom", 2)]
    assert clock.sleeps == [1.0]


async def test_dropped_and_truncated_bodies_are_refetched(
    http: HTTPMixin, server: LocalServer, clock: FakeClock, logged
) -> None:
    log, capture = logged
    server.faults.drop_connection(path="/pages/3", keep_bytes=40)
    server.faults.truncate_body(path="/pages/9", keep_bytes=100)
    assert await _fetch_all(http, log, server) == EXPECTED
    assert clock.sleeps == [1.0, 1.0]
    assert server.requests.faults().count("drop") == 1 and server.requests.faults().count("truncate") == 1
    assert capture.messages("WARNING") == ["error occurred while reading response body (will retry)"] * 2


async def test_slow_response_past_timeout_is_retried(
    http: HTTPMixin, server: LocalServer, clock: FakeClock, logged
) -> None:
    server.faults.latency(30, path="/pages/0", times=1)
    body = await http.request(logged[0], server.url_for("/pages/0"), timeout=1.0)
    assert orjson.loads(body)[0] == {"id": 0}
    assert clock.sleeps == [1.0]
    assert server.requests.faults() == ["latency:30", None]


async def test_timeouts_run_out(http: HTTPMixin, server: LocalServer, clock: FakeClock, logged) -> None:
    http.retry_policy = RetryPolicy(jitter=0, max_attempts=2)
    server.faults.latency(30, path="/pages/0", times=None)
    with pytest.raises(HTTPConnectionError) as err:
        await http.request(logged[0], server.url_for("/pages/0"), timeout=aiohttp.ClientTimeout(total=0.1))
    assert err.value.code == 0
    assert "after 2 attempts" in err.value.message and "TimeoutError" in err.value.message
    assert f"URL: {server.url}/pages/0" in err.value.message


async def test_connection_refused_runs_out(clock: FakeClock, logged) -> None:
    async with open_http_session(
        logged[0], clock=clock, retry_policy=RetryPolicy(jitter=0, max_attempts=3)
    ) as http:
        with pytest.raises(HTTPConnectionError) as err:
            await http.request(logged[0], "http://127.0.0.1:9/nothing", params={"api_key": "k-123"})
    assert "after 3 attempts" in err.value.message
    assert "http://127.0.0.1:9/nothing?api_key=[redacted]" in err.value.message
    assert "k-123" not in err.value.message
    assert clock.sleeps == [1.0, 2.0]


async def test_default_policy_gives_up_on_a_refused_host_within_a_minute(clock: FakeClock, logged) -> None:
    """As RetryPolicy's docstring states: retries stop once the next one would start more than
    `max_retry_time` (60 s) after the first attempt; the error says which fault and how long."""
    async with open_http_session(logged[0], clock=clock) as http:
        with pytest.raises(HTTPConnectionError) as err:
            await http.request(logged[0], "http://127.0.0.1:9/nothing")
    message = err.value.message
    assert message.startswith(f"Request failed after {len(clock.sleeps) + 1} attempts over ")
    assert "(no retry starts more than 60 s after the first attempt: RetryPolicy.max_retry_time)" in message
    assert ": connection refused (ClientConnectorError: " in message
    assert 5 <= len(clock.sleeps) <= 7  # backoffs of 1, 2, 4, ... s, less up to half of each
    assert clock.slept <= 60


async def test_jitter_stays_within_bounds() -> None:
    policy = RetryPolicy(base_delay=1.0, max_delay=10.0, jitter=0.5)
    for attempt in range(1, 8):
        ceiling = min(10.0, 2 ** (attempt - 1))
        for _ in range(50):
            assert ceiling * 0.5 <= policy.backoff(attempt) <= ceiling


async def test_503_retry_after_pauses_and_is_announced(
    http: HTTPMixin, server: LocalServer, clock: FakeClock, logged
) -> None:
    log, capture = logged
    server.faults.status(503, path="/pages/0", headers={"Retry-After": "45"}, body=b"maintenance")
    assert orjson.loads(await http.request(log, server.url_for("/pages/0")))[0] == {"id": 0}
    assert clock.sleeps == [45.0]
    assert [e["msg"] for e in capture.events("connectorStatus")] == [
        "waiting on rate limit until 2030-01-01T00:00:45Z"
    ]


async def test_reference_style_request_stream_override(server: LocalServer, logged) -> None:
    """Connectors override `_request_stream` with the reference kit's exact signature (e.g. to
    add a version header to every request); that must keep working, for every public method and
    for every re-issued attempt (with the same, once-encoded body)."""
    seen: list[tuple[str, object]] = []

    class VersionedSession(HTTPMixin):
        async def _request_stream(
            self,
            log,
            url,
            method,
            params,
            json,
            form,
            _with_token,
            headers,
            should_retry=None,
            timeout=None,  # noqa: ASYNC109 -- the reference kit's signature
        ):
            seen.append((method, json))
            headers = {**(headers or {}), "X-Custom": "2024-06-01"}
            return await super()._request_stream(
                log, url, method, params, json, form, _with_token, headers, should_retry, timeout
            )

    session = VersionedSession()
    session.clock = FakeClock()
    await session._mixin_enter(logged[0])
    server.faults.drop_connection(path="/echo", keep_bytes=3)
    try:
        got = orjson.loads(await session.request(logged[0], server.url_for("/echo"), "POST", json={"a": 1}))
        _, lines = await session.request_lines(logged[0], server.url_for("/lines"))
        assert [line async for line in lines()][:1] == [b"alpha"]
    finally:
        await session._mixin_exit(logged[0])
    assert got["x_custom"] == "2024-06-01" and got["body"] == '{"a":1}'
    assert seen == [("POST", {"a": 1}), ("POST", {"a": 1}), ("GET", None)]  # the drop re-issued it
    assert [r.body for r in server.requests][:2] == [b'{"a":1}', b'{"a":1}']


async def test_stream_broken_mid_body_is_a_typed_error(http: HTTPMixin, server: LocalServer, logged) -> None:
    server.faults.drop_connection(path="/pages/2", keep_bytes=100)
    _, body = await http.request_stream(
        logged[0], server.url_for("/pages/2"), params={"token": "tok-stream-secret"}
    )
    received = b""
    with pytest.raises(ResponseBodyError) as err:
        async for chunk in body():
            received += chunk
    assert len(received) == 100
    assert err.value.code == 0
    assert f"URL: {server.url}/pages/2?token=[redacted]" in err.value.message
    assert "tok-stream-secret" not in err.value.message


async def test_408_is_retried_and_bad_urls_fail_cleanly(
    http: HTTPMixin, server: LocalServer, clock: FakeClock, logged
) -> None:
    server.faults.status(408, path="/pages/1")
    assert orjson.loads(await http.request(logged[0], server.url_for("/pages/1")))[0] == {"id": PAGE_SIZE}
    assert clock.sleeps == [1.0]
    with pytest.raises(HTTPConnectionError) as err:
        await http.request(logged[0], "ftp://example.invalid/x", params={"secret": "s3cr3t-value"})
    assert err.value.code == 0 and "URL: ftp://example.invalid/x?secret=[redacted]" in err.value.message


def test_importing_the_kit_does_not_load_aiohttp_until_a_request_needs_it() -> None:
    """Flow starts a process per spec/discover/validate: those that send no request should not
    pay for aiohttp (~0.1 s, ~10 MB). A subprocess, since this test process loaded it already."""
    import subprocess
    import sys

    probe = (
        "import sys\n"
        "import estuary_cdk.capture.common, estuary_cdk.http\n"
        "from estuary_cdk.capture import BaseCaptureConnector\n"
        "assert 'aiohttp.client' not in sys.modules, 'aiohttp was loaded at import'\n"
        "import estuary_cdk.http as h\n"
        "assert h.DEFAULT_TIMEOUT.sock_connect == 30 and h.DEFAULT_TIMEOUT.sock_read is None\n"
        "assert 'aiohttp.client' in sys.modules\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=False)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
