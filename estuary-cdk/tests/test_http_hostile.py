"""Hostile and broken APIs (issue 16), each against a real local server: every response has a
size ceiling, every wait a deadline that shows in the connector status while it lasts, and every
one of them ends in an error naming the URL, the fault and how long it took.

Network deadlines are real time, so they are configured short here (`HTTPLimits` of tenths of a
second); the waits between attempts go through a `FakeClock`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import orjson
import pytest
from aiohttp import web
from estuary_cdk.http import (
    HTTPConnectionError,
    HTTPError,
    HTTPLimits,
    HTTPMixin,
    ResponseBodyError,
    ResponseTooLargeError,
    RetryPolicy,
)
from estuary_cdk.testing import (
    FakeClock,
    LocalServer,
    LogCapture,
    capture_logger,
    open_http_session,
    serve_app,
    unused_url,
)
from estuary_cdk.testing._session import FlowLogger

MiB = 1 << 20
ITEMS = {"items": list(range(300))}

# Short deadlines, announced after a tenth of a second.
SHORT = HTTPLimits(
    headers_timeout=0.3, idle_timeout=0.2, body_timeout=0.5, stream_timeout=0.5, status_after=0.1
)


async def _items(request: web.Request) -> web.Response:
    return web.json_response(ITEMS)


@pytest.fixture
async def server() -> AsyncIterator[LocalServer]:
    app = web.Application()
    app.router.add_get("/items", _items)
    async with serve_app(app) as srv:
        yield srv


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def logged() -> tuple[FlowLogger, LogCapture]:
    return capture_logger()


@pytest.fixture
async def http(clock: FakeClock, logged: tuple[FlowLogger, LogCapture]) -> AsyncIterator[HTTPMixin]:
    policy = RetryPolicy(jitter=0, max_attempts=2)
    async with open_http_session(logged[0], clock=clock, retry_policy=policy, limits=SHORT) as s:
        yield s


def _statuses(capture: LogCapture) -> list[str]:
    return [e["msg"] for e in capture.events("connectorStatus")]


# --- memory ---------------------------------------------------------------------------------


async def test_a_body_over_the_ceiling_is_refused_by_its_content_length(server: LocalServer, logged) -> None:
    log = logged[0]
    server.faults.huge_body(64 * MiB, declare_length=True, path="/items")
    async with open_http_session(log, clock=FakeClock()) as http:  # the default 32 MiB ceiling
        with pytest.raises(ResponseTooLargeError) as err:
            await http.request(log, server.url_for("/items"), params={"page": 2})
    assert err.value.code == 200 and not isinstance(err.value, HTTPConnectionError)
    message = err.value.message
    assert message.startswith("The response body is too large to read whole (Content-Length: 64 MiB)")
    assert "HTTPLimits.max_body_bytes = 32 MiB" in message and "request_stream" in message
    assert message.endswith(f"URL: {server.url}/items?page=2")
    assert server.requests.count() == 1  # not retried: the next attempt would get the same body


async def test_a_chunked_body_is_cut_off_at_the_ceiling_and_streams_past_it(
    server: LocalServer, logged
) -> None:
    log = logged[0]
    limits = HTTPLimits(max_body_bytes=1 * MiB)
    server.faults.huge_body(8 * MiB, path="/items", times=2)
    async with open_http_session(log, clock=FakeClock(), limits=limits) as http:
        with pytest.raises(ResponseTooLargeError, match=r"too large to read whole \(1\.\d+ MiB so far\)"):
            await http.request(log, server.url_for("/items"))
        # The documented way past the ceiling: a stream holds one chunk at a time.
        _, body = await http.request_stream(log, server.url_for("/items"))
        size = 0
        async for chunk in body():
            size += len(chunk)
    assert size == 8 * MiB


async def test_a_gzip_bomb_stops_after_a_few_megabytes(server: LocalServer, logged) -> None:
    log = logged[0]
    server.faults.gzip_bomb(1 << 30, path="/items")  # 1 GiB of zeros, about 1 MiB compressed
    async with open_http_session(log, clock=FakeClock()) as http:  # default limits
        with pytest.raises(ResponseTooLargeError) as err:
            await http.request(log, server.url_for("/items"))
    message = err.value.message
    assert "times as much): over the 100x limit on decompression" in message
    decompressed = message.split(" compressed became ")[1].split(",")[0]
    assert decompressed.endswith("MiB") and float(decompressed.split()[0]) < 4


async def test_compressed_bodies_within_the_ratio_are_read(server: LocalServer, logged) -> None:
    import gzip

    text = orjson.dumps([{"id": i, "name": f"item {i}"} for i in range(50_000)])  # ~1.3 MiB, ~10x
    app = web.Application()

    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=gzip.compress(text), headers={"Content-Encoding": "gzip"})

    app.router.add_get("/big", handler)
    async with serve_app(app) as srv, open_http_session(logged[0], clock=FakeClock()) as http:
        assert await http.request(logged[0], srv.url_for("/big")) == text


# --- waits ----------------------------------------------------------------------------------


async def test_headers_that_never_come(
    http: HTTPMixin, server: LocalServer, clock: FakeClock, logged
) -> None:
    log, capture = logged
    server.faults.latency(3600, path="/items", times=None)
    with pytest.raises(HTTPConnectionError) as err:
        await http.request(log, server.url_for("/items"))
    assert err.value.message == (
        f"Request failed after 2 attempts over 1 s: no response headers within 0.3 s\nURL: {server.url}/items"
    )
    assert clock.sleeps == [1.0]
    assert _statuses(capture)[0] == (
        f"waiting for a response from {server.url}/items: none for 0.1 s so far (gives up after 0.3 s)"
    )


async def test_a_body_that_drips(http: HTTPMixin, server: LocalServer, logged) -> None:
    """A byte every 50 ms never trips the idle timeout; the total deadline ends it."""
    log, capture = logged
    server.faults.slow_body(0.05, chunk_bytes=1, path="/items", times=None)
    with pytest.raises(HTTPConnectionError) as err:
        await http.request(log, server.url_for("/items"))
    message = err.value.message
    assert message.startswith("Reading the response body failed after 2 attempts over 1 s: ")
    assert "the response body took longer than 0.5 s to arrive (" in message and " bytes received)" in message
    assert message.endswith(f"URL: {server.url}/items")
    still = [s for s in _statuses(capture) if s.startswith("still reading the buffered response body")]
    assert still and f"of {server.url}/items: " in still[0]
    assert len(still) <= 6  # announced as the wait doubles, not for every byte


async def test_a_server_that_stops_mid_body_is_retried_soon(
    http: HTTPMixin, server: LocalServer, clock: FakeClock, logged
) -> None:
    log, capture = logged
    server.faults.stall_body(keep_bytes=40, seconds=30, path="/items")
    assert orjson.loads(await http.request(log, server.url_for("/items"))) == ITEMS
    assert clock.sleeps == [1.0]
    (warning,) = [line for line in capture.lines if line["level"] == "WARNING"]
    assert (
        warning["fields"]["args"]["fault"]
        == "the response body stalled: no data for 0.2 s (40 bytes received)"
    )

    server.faults.stall_body(keep_bytes=40, seconds=30, path="/items")
    _, body = await http.request_stream(log, server.url_for("/items"))
    with pytest.raises(ResponseBodyError) as err:
        async for _ in body():
            pass
    assert err.value.message == (
        "Reading the response body failed mid-stream: the response body stalled: no data for 0.2 s "
        f"(40 bytes received)\nURL: {server.url}/items"
    )


async def test_a_stream_that_drips_has_a_deadline_too(http: HTTPMixin, server: LocalServer, logged) -> None:
    server.faults.slow_body(0.05, chunk_bytes=1, path="/items")
    _, lines = await http.request_lines(logged[0], server.url_for("/items"))
    with pytest.raises(ResponseBodyError, match=r"the response body took longer than 0\.5 s to arrive"):
        async for _ in lines():
            pass


async def test_a_5xx_asking_for_a_day_fails_at_once(
    http: HTTPMixin, server: LocalServer, clock: FakeClock, logged
) -> None:
    server.faults.status(503, path="/items", headers={"Retry-After": "86400"}, body=b"maintenance")
    with pytest.raises(HTTPError) as err:
        await http.request(logged[0], server.url_for("/items"))
    assert err.value.code == 503
    assert err.value.message.startswith(
        "Encountered HTTP error status 503 and asked to wait 24 h (Retry-After: 86400), longer than the "
        "1 h limit on one wait (RetryPolicy.max_server_wait).\nURL: "
    )
    assert clock.sleeps == []


async def test_429_forever_ends_and_is_shown_while_it_lasts(
    server: LocalServer, clock: FakeClock, logged
) -> None:
    log, capture = logged
    server.faults.rate_limit(path="/items", times=None, retry_after=10)
    policy = RetryPolicy(jitter=0, max_rate_limited_time=120)
    async with open_http_session(log, clock=clock, retry_policy=policy) as http:
        with pytest.raises(HTTPError) as err:
            await http.request(log, server.url_for("/items"))
    assert err.value.code == 429
    assert err.value.message.startswith(
        "Encountered HTTP error status 429 (rate limited) 13 times over 2 min, and waiting another 10 s "
        "(Retry-After: 10) would pass the 2 min limit on waiting for one request "
        "(RetryPolicy.max_rate_limited_time).\nURL: "
    )
    assert clock.sleeps == [10.0] * 12
    assert [s.split(": ")[-1] for s in _statuses(capture)] == [
        "30 s in all so far (gives up past 2 min)",
        "60 s in all so far (gives up past 2 min)",
        "2 min in all so far (gives up past 2 min)",
    ]


# --- transient faults: retried, within a bounded time ---------------------------------------


async def test_connection_refused_gives_up_within_the_retry_time(clock: FakeClock, logged) -> None:
    log, capture = logged
    url = unused_url("/items")
    policy = RetryPolicy(jitter=0, max_retry_time=5)
    async with open_http_session(
        log, clock=clock, retry_policy=policy, limits=HTTPLimits(status_after=2)
    ) as http:
        with pytest.raises(HTTPConnectionError) as err:
            await http.request(log, url)
    assert err.value.message.startswith(
        "Request failed after 3 attempts over 3 s (no retry starts more than 5 s after the first attempt: "
        "RetryPolicy.max_retry_time): connection refused (ClientConnectorError: "
    )
    assert clock.sleeps == [1.0, 2.0]
    assert _statuses(capture) == [f"retrying {url} in 2 s after: connection refused (attempt 3 of at most 8)"]


@pytest.mark.parametrize(
    ("fault", "named"),
    [
        (
            "truncate_body",
            "Reading the response body failed after 2 attempts over 1 s: the response body was cut short",
        ),
        (
            "drop_connection",
            "Reading the response body failed after 2 attempts over 1 s: the response body was cut short",
        ),
        (
            "disconnect",
            "Request failed after 2 attempts over 1 s: the server closed the connection without a response",
        ),
    ],
)
async def test_broken_connections_name_the_fault(
    http: HTTPMixin, server: LocalServer, clock: FakeClock, logged, fault: str, named: str
) -> None:
    getattr(server.faults, fault)(path="/items", times=None)
    with pytest.raises(HTTPConnectionError) as err:
        await http.request(logged[0], server.url_for("/items"))
    assert err.value.message.startswith(named + " (")
    assert err.value.message.endswith(f"\nURL: {server.url}/items")
    assert clock.sleeps == [1.0]


async def test_a_cancelled_request_stays_cancelled(http: HTTPMixin, server: LocalServer, logged) -> None:
    """The kit's deadlines cancel only their own waits: a request cancelled from outside (a
    capture shutting down) ends with CancelledError, not an HTTP error or a retry."""
    import asyncio

    for stall in (lambda: server.faults.latency(3600), lambda: server.faults.stall_body(seconds=30)):
        server.faults.clear()
        stall()
        task = asyncio.create_task(http.request(logged[0], server.url_for("/items")))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert server.requests.faults() == ["latency:3600", "stall"]
    assert [line["level"] for line in logged[1].lines if line["level"] == "WARNING"] == []
