"""`LOG_LEVEL=debug` shows every HTTP attempt: method, scrubbed URL, status or fault, time to the
headers, declared length and attempt number (issue 12 item 10); at INFO nothing is added."""

from __future__ import annotations

import logging

from aiohttp import web
from estuary_cdk.http import RetryPolicy
from estuary_cdk.logger import register_secret
from estuary_cdk.testing import FakeClock, capture_logger, open_http_session, serve_app, unused_url


def _attempts(logs: object) -> list[dict[str, object]]:
    """The fields of the per-attempt DEBUG lines (the kit's logger puts a line's fields under
    `args`)."""
    return [
        {**line["fields"]["args"], "msg": line["msg"]}
        for line in logs.lines  # type: ignore[attr-defined]
        if line["level"] == "DEBUG" and "attempt" in line["fields"].get("args", {})
    ]


def _app() -> web.Application:
    calls = 0

    async def flaky(request: web.Request) -> web.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            return web.Response(status=503, text="busy")
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_get("/items", flaky)
    return app


async def test_each_attempt_is_one_debug_line_with_a_scrubbed_url() -> None:
    log, logs = capture_logger()
    register_secret("s3cr3t-token-value")
    async with (
        serve_app(_app()) as server,
        open_http_session(log, clock=FakeClock(), retry_policy=RetryPolicy(jitter=0)) as http,
    ):
        await http.request(
            log, server.url_for("/items"), params={"api_key": "s3cr3t-token-value", "q": "a b%c"}
        )
    lines = _attempts(logs)
    assert [(line["status"], line["attempt"]) for line in lines] == [(503, 1), (200, 2)]
    for line in lines:
        assert line["method"] == "GET"
        assert "s3cr3t-token-value" not in str(line)
        assert float(line["ms"]) >= 0  # type: ignore[arg-type]
        assert str(line["msg"]).startswith("GET ") and "HTTP" in str(line["msg"])
    assert lines[1]["content_length"] == "12"


async def test_a_failed_connection_is_logged_with_its_fault() -> None:
    log, logs = capture_logger()
    async with open_http_session(
        log, clock=FakeClock(), retry_policy=RetryPolicy(jitter=0, max_attempts=2)
    ) as http:
        try:
            await http.request(log, unused_url())
        except Exception:
            pass
    faults = [str(line["fault"]) for line in _attempts(logs)]
    assert len(faults) == 2 and all("connection refused" in f for f in faults)


async def test_nothing_is_added_at_info() -> None:
    log, logs = capture_logger()
    log.setLevel(logging.INFO)
    async with (
        serve_app(_app()) as server,
        open_http_session(log, clock=FakeClock(), retry_policy=RetryPolicy(jitter=0)) as http,
    ):
        await http.request(log, server.url_for("/items"))
    assert not _attempts(logs)
