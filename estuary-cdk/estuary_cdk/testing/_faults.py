"""Fault injection for local test servers: a plan of rules and the aiohttp middleware that
applies them."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import format_datetime
from typing import Literal, TypedDict, Unpack

from aiohttp import web
from aiohttp.typedefs import Middleware
from multidict import CIMultiDict, MultiDict

from ._hostile import Disconnect, GzipBomb, HugeBody, client_may_leave
from ._requests import RecordedRequest, RequestLog, _matches

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PathMatcher = str | re.Pattern[str] | None
BodyCut = Literal["abort", "close", "stall"]


@dataclass(frozen=True)
class Status:
    """Answer with `status` without calling the application (e.g. a 429 or a 5xx)."""

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""

    @property
    def name(self) -> str:
        return f"status:{self.status}"

    async def respond(self, request: web.Request) -> web.StreamResponse:
        return web.Response(status=self.status, headers=dict(self.headers), body=self.body)


@dataclass(frozen=True)
class CutBody:
    """Let the application answer, send its headers (with the full Content-Length) and only
    the first `keep_bytes` of its body, then end the connection: `"abort"` resets it (a dropped
    connection), `"close"` closes it cleanly (a truncated body), `"stall"` sends nothing more
    for `stall_seconds` (a server that stops mid-body) before resetting it. Either way the
    client sees an incomplete payload."""

    keep_bytes: int = 16
    how: BodyCut = "abort"
    stall_seconds: float = 3600.0

    @property
    def name(self) -> str:
        return {"abort": "drop", "close": "truncate", "stall": "stall"}[self.how]


@dataclass(frozen=True)
class Latency:
    """Wait `seconds` before the application answers (stacks with every other matching rule).
    A latency longer than the client's timeout makes a slow response that times out."""

    seconds: float

    @property
    def name(self) -> str:
        return f"latency:{self.seconds:g}"


@dataclass(frozen=True)
class SlowBody:
    """Let the application answer, then send its body in `chunk_bytes` pieces with `delay`
    seconds between them (a response that starts promptly but trickles)."""

    delay: float
    chunk_bytes: int = 1024

    @property
    def name(self) -> str:
        return f"slow-body:{self.delay:g}"


Fault = Status | CutBody | Latency | SlowBody | HugeBody | GzipBomb | Disconnect
Answer = Status | HugeBody | GzipBomb | Disconnect
"""Faults that answer in place of the application."""


@dataclass
class FaultRule:
    """`fault` applies to the next `remaining` requests that match `path`/`method`
    (`remaining=None`: every matching request). `fired` counts how often it applied."""

    fault: Fault
    path: PathMatcher = None
    method: str | None = None
    remaining: int | None = 1
    fired: int = 0

    def _take(self, path: str, method: str) -> bool:
        if self.remaining is not None and self.remaining <= 0:
            return False
        if not _matches(path, method, self.path, self.method):
            return False
        if self.remaining is not None:
            self.remaining -= 1
        self.fired += 1
        return True


def retry_after_value(value: float | datetime | str) -> str:
    """Render a `Retry-After` header: delay-seconds for numbers, an IMF-fixdate for datetimes."""
    if isinstance(value, datetime):
        return format_datetime(value, usegmt=True)
    if isinstance(value, str):
        return value
    return str(int(value)) if float(value).is_integer() else str(value)


class Where(TypedDict, total=False):
    """Which requests a fault applies to: `path` (an exact path, a compiled regex matched with
    `fullmatch`, or `None` for any), `method` (or `None`) and `times` (how many matching
    requests; `None` = all of them; 1 unless a helper says otherwise)."""

    path: PathMatcher
    method: str | None
    times: int | None


class FaultPlan:
    """An ordered list of fault rules, safe to edit from a test while the server runs (also from
    another thread). For each request every matching `Latency` rule adds its delay, then the
    first matching rule of any other kind decides the response."""

    def __init__(self) -> None:
        self._rules: list[FaultRule] = []
        self._lock = threading.Lock()

    def add(self, fault: Fault, **where: Unpack[Where]) -> FaultRule:
        """Apply `fault` to the requests `where` selects (by default: the next one, any path)."""
        rule = FaultRule(
            fault=fault, path=where.get("path"), method=where.get("method"), remaining=where.get("times", 1)
        )
        with self._lock:
            self._rules.append(rule)
        return rule

    def status(
        self,
        status: int,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes = b"",
        **where: Unpack[Where],
    ) -> FaultRule:
        return self.add(Status(status, dict(headers or {}), body), **where)

    def rate_limit(
        self,
        *,
        retry_after: float | datetime | str | None = None,
        headers: Mapping[str, str] | None = None,
        **where: Unpack[Where],
    ) -> FaultRule:
        """429 responses, with a `Retry-After` header when `retry_after` is given."""
        all_headers = dict(headers or {})
        if retry_after is not None:
            all_headers["Retry-After"] = retry_after_value(retry_after)
        return self.status(429, headers=all_headers, body=b'{"error":"rate limited"}', **where)

    def server_errors(
        self,
        statuses: Iterable[int] = (500, 502, 503),
        *,
        path: PathMatcher = None,
        method: str | None = None,
    ) -> list[FaultRule]:
        """A burst: the next matching requests get each of `statuses`, in order."""
        return [
            self.status(s, path=path, times=1, body=f"upstream error {s}".encode(), method=method)
            for s in statuses
        ]

    def drop_connection(self, *, keep_bytes: int = 16, **where: Unpack[Where]) -> FaultRule:
        return self.add(CutBody(keep_bytes, "abort"), **where)

    def truncate_body(self, *, keep_bytes: int = 16, **where: Unpack[Where]) -> FaultRule:
        return self.add(CutBody(keep_bytes, "close"), **where)

    def stall_body(
        self, *, keep_bytes: int = 16, seconds: float = 3600.0, **where: Unpack[Where]
    ) -> FaultRule:
        """The application's headers and `keep_bytes` of its body, then nothing for `seconds`."""
        return self.add(CutBody(keep_bytes, "stall", seconds), **where)

    def huge_body(self, size: int, *, declare_length: bool = False, **where: Unpack[Where]) -> FaultRule:
        """A 200 whose JSON body is `size` bytes, generated as sent (see `HugeBody`)."""
        return self.add(HugeBody(size, declare_length), **where)

    def gzip_bomb(self, size: int, **where: Unpack[Where]) -> FaultRule:
        """A 200 whose gzip body decompresses to `size` bytes (see `GzipBomb`)."""
        return self.add(GzipBomb(size), **where)

    def disconnect(self, *, how: Literal["close", "abort"] = "close", **where: Unpack[Where]) -> FaultRule:
        """No answer at all: the connection is closed (or reset) once the request is read."""
        return self.add(Disconnect(how), **where)

    def latency(self, seconds: float, **where: Unpack[Where]) -> FaultRule:
        """Applies to every matching request unless `times` says otherwise."""
        return self.add(
            Latency(seconds), path=where.get("path"), method=where.get("method"), times=where.get("times")
        )

    def slow_body(self, delay: float, *, chunk_bytes: int = 1024, **where: Unpack[Where]) -> FaultRule:
        return self.add(SlowBody(delay, chunk_bytes), **where)

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def pending(self) -> int:
        """How many more requests the counted rules will still fault."""
        with self._lock:
            return sum(r.remaining or 0 for r in self._rules if r.remaining is not None)

    def _select(self, path: str, method: str) -> tuple[float, Fault | None]:
        delay = 0.0
        chosen: Fault | None = None
        with self._lock:
            for rule in self._rules:
                if isinstance(rule.fault, Latency):
                    if rule._take(path, method):
                        delay += rule.fault.seconds
                elif chosen is None and rule._take(path, method):
                    chosen = rule.fault
        return delay, chosen


def make_middleware(plan: FaultPlan, log: RequestLog) -> Middleware:
    """An aiohttp middleware recording every request into `log` and applying `plan`."""

    @web.middleware
    async def fault_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        body = await request.read() if request.can_read_body else b""
        delay, fault = plan._select(request.path, request.method)
        names = [f"latency:{delay:g}"] if delay else []
        if fault is not None:
            names.append(fault.name)
        log.append(
            RecordedRequest(
                method=request.method,
                path=request.path,
                query=MultiDict(request.query),
                headers=CIMultiDict(request.headers),
                body=body,
                at=time.monotonic(),
                fault=",".join(names) or None,
            )
        )
        if delay:
            await asyncio.sleep(delay)
        if isinstance(fault, Answer):
            return await fault.respond(request)
        if fault is None or isinstance(fault, Latency):
            return await handler(request)
        return await _rewrite_body(request, await handler(request), fault)

    return fault_middleware


async def _rewrite_body(
    request: web.Request, response: web.StreamResponse, fault: CutBody | SlowBody
) -> web.StreamResponse:
    if not isinstance(response, web.Response) or response.body is None:
        raise TypeError("body faults need a handler that returns a web.Response with a bytes body")
    raw = response.body
    payload = raw if isinstance(raw, bytes | bytearray) else bytes(raw._value)
    out = web.StreamResponse(status=response.status, headers=response.headers)
    out.content_length = len(payload)
    await out.prepare(request)
    if isinstance(fault, SlowBody):
        with client_may_leave():  # A client giving up on the trickle is the point of the fault.
            for start in range(0, len(payload), fault.chunk_bytes):
                await out.write(payload[start : start + fault.chunk_bytes])
                await asyncio.sleep(fault.delay)
            await out.write_eof()
        return out
    # Never send the whole body: the client must see it cut short.
    await out.write(payload[: max(0, min(fault.keep_bytes, len(payload) - 1))])
    if fault.how == "stall":
        await asyncio.sleep(fault.stall_seconds)
    transport = request.transport
    if transport is not None:
        if fault.how == "close":
            transport.close()
        else:
            transport.abort()
    # The connection is gone; tell aiohttp so it neither writes nor reuses it.
    raise asyncio.CancelledError
