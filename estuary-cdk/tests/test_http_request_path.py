"""The request path's stages: one request spec, one attempt budget, overridable chokepoint."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, AsyncIterator

import orjson
import pytest
from aiohttp import web
from estuary_cdk.http import (
    HeadersAndBodyGenerator,
    HTTPConnectionError,
    HTTPError,
    HTTPSession,
    ResponseBodyError,
    RetryPolicy,
)
from estuary_cdk.testing import FakeClock, LocalServer, capture_logger, open_http_session, serve_app
from multidict import CIMultiDict, CIMultiDictProxy


async def _echo(request: web.Request) -> web.Response:
    return web.json_response(
        {"x_version": request.headers.get("X-Version"), "body": (await request.read()).decode()}
    )


@pytest.fixture
async def server() -> AsyncIterator[LocalServer]:
    app = web.Application()
    app.router.add_route("*", "/echo", _echo)
    async with serve_app(app) as srv:
        yield srv


async def test_status_and_body_retries_share_one_attempt_budget(server: LocalServer) -> None:
    """A 503 then a body cut short are two attempts of the same request: with a budget of two,
    the request fails instead of getting a fresh budget for the body."""
    log, _ = capture_logger()
    clock = FakeClock()
    server.faults.status(503, path="/echo")
    server.faults.truncate_body(path="/echo", keep_bytes=5)
    async with open_http_session(
        log, clock=clock, retry_policy=RetryPolicy(jitter=0, max_attempts=2)
    ) as http:
        with pytest.raises(HTTPConnectionError) as err:
            await http.request(log, server.url_for("/echo"))
    assert "Reading the response body failed after 2 attempts" in err.value.message
    assert server.requests.faults() == ["status:503", "truncate"]
    assert clock.sleeps == [1.0]


class _Scripted(HTTPSession):
    """A session that only implements the chokepoint, as a connector's test double does: each
    call answers with the next scripted body (a list of chunks, or an exception mid-body)."""

    def __init__(self, bodies: list[list[bytes | BaseException]]) -> None:
        self.bodies = bodies
        self.calls = 0
        self.clock = FakeClock()
        self.retry_policy = RetryPolicy(jitter=0, max_attempts=3)

    async def _request_stream(self, log, *args: object, **kwargs: object) -> HeadersAndBodyGenerator:
        script = self.bodies[self.calls]
        self.calls += 1

        async def body() -> AsyncGenerator[bytes, None]:
            for part in script:
                if isinstance(part, BaseException):
                    raise part
                yield part

        return CIMultiDictProxy(CIMultiDict({"X-Call": str(self.calls)})), body


async def test_a_session_that_only_implements_the_chokepoint_reads_and_retries_bodies() -> None:
    log = logging.getLogger("test")
    cut = ResponseBodyError("cut short", 0)
    session = _Scripted([[b"par", cut], [b'{"ok":', b" true}"]])
    headers, body = await session.request_with_headers(log, "http://example.test/x")
    assert (headers["X-Call"], orjson.loads(body)) == ("2", {"ok": True})
    assert session.clock.sleeps == [1.0]

    lines = _Scripted([[b"a\nb", b"c\n", b"d"]])
    _, gen = await lines.request_lines(log, "http://example.test/x")
    assert [line async for line in gen()] == [b"a", b"bc", b"d"]


async def test_a_scripted_session_gives_up_with_the_url_and_the_fault() -> None:
    log = logging.getLogger("test")
    cut = ConnectionResetError("reset by peer")
    session = _Scripted([[cut]] * 3)
    with pytest.raises(HTTPError) as err:
        await session.request(log, "http://example.test/x", params={"api_key": "k-123456"})
    message = err.value.message
    assert message.startswith(
        "Reading the response body failed after 3 attempts over 3 s: "
        "the connection was reset (ConnectionResetError: reset by peer)"
    )
    assert "URL: http://example.test/x?api_key=[redacted]" in message
    assert session.clock.sleeps == [1.0, 2.0]
