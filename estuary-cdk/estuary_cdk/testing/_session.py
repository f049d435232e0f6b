"""A ready-to-use HTTP session and a log capture for tests."""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any

import orjson

from ..http import Clock, HTTPLimits, HTTPMixin, RequestBudget, RetryPolicy, TokenSource
from ..logger import FlowLogger, LogFormatter


class LogCapture:
    """Every line a logger wrote, formatted exactly as the kit writes stderr (JSON lines, with
    registered secrets redacted), so tests can assert on what a user would see."""

    def __init__(self) -> None:
        self.stream = io.StringIO()

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    @property
    def lines(self) -> list[dict[str, Any]]:
        return [orjson.loads(line) for line in self.text.splitlines() if line.strip()]

    def messages(self, level: str | None = None) -> list[str]:
        return [line["msg"] for line in self.lines if level is None or line["level"] == level.upper()]

    def events(self, event_type: str) -> list[dict[str, Any]]:
        """Lines with `fields.eventType == event_type` (`"connectorStatus"`, `"configUpdate"`)."""
        return [line for line in self.lines if line["fields"].get("eventType") == event_type]


_counter = 0


def capture_logger(name: str = "flow.test") -> tuple[FlowLogger, LogCapture]:
    """A fresh DEBUG-level `FlowLogger` (not propagating further up) whose lines, and those of
    its children, go to a `LogCapture`."""
    global _counter
    _counter += 1
    # Registered (unlike a bare FlowLogger(...)), so `log.getChild(...)` loggers propagate here.
    log = logging.getLogger(f"{name}.{_counter}")
    if not isinstance(log, FlowLogger):  # pragma: no cover -- estuary_cdk.logger installs the class
        raise TypeError("estuary_cdk.logger did not install FlowLogger as the logger class")
    log.setLevel(logging.DEBUG)
    log.propagate = False
    capture = LogCapture()
    handler = logging.StreamHandler(capture.stream)
    handler.setFormatter(LogFormatter())
    log.addHandler(handler)
    return log, capture


@contextlib.asynccontextmanager
async def open_http_session(
    log: logging.Logger | None = None,
    *,
    clock: Clock | None = None,
    retry_policy: RetryPolicy | None = None,
    budget: RequestBudget | Sequence[RequestBudget] | None = None,
    token_source: TokenSource | None = None,
    limits: HTTPLimits | None = None,
) -> AsyncIterator[HTTPMixin]:
    """An opened `HTTPMixin` (the session a connector would be), closed on exit.

    async with open_http_session(clock=FakeClock(), retry_policy=RetryPolicy(jitter=0)) as http:
        body = await http.request(log, server.url_for("/items"))
    """
    log = log or logging.getLogger("flow.test")
    session = HTTPMixin()
    if clock is not None:
        session.clock = clock
    if retry_policy is not None:
        session.retry_policy = retry_policy
    if limits is not None:
        session.limits = limits
    session.rate_limit_budget = budget
    session.token_source = token_source
    await session._mixin_enter(log)
    try:
        yield session
    finally:
        await session._mixin_exit(log)
