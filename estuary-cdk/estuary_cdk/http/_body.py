"""The body of an aiohttp response, readable once: streamed, or whole, within `HTTPLimits`.

Reading whole (`request`) is bounded in memory (`max_body_bytes`, `max_compression_ratio`) and
in time (`idle_timeout` between pieces, `body_timeout` in all); streaming (`request_stream`,
`request_lines`) holds one chunk at a time, so only time is bounded (`idle_timeout`,
`stream_timeout`, counting waits on the server, not the consumer's work between chunks).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator

from ._aiohttp import aiohttp
from ._errors import ResponseBodyError, ResponseTooLargeError
from ._events import status_event
from ._limits import HTTPLimits, format_duration, format_size
from ._redact import redact
from ._spec import RequestSpec
from ._transport import WaitExpired, body_read_errors, describe_fault
from ._waits import Watch

ERROR_BODY_LIMIT = 256 * 1024
"""How much of an error response's body is kept (for `should_retry`, `HTTPError.body` and the
message's excerpt); the rest is discarded with the connection."""


class ResponseBody:
    """Streamed through `__call__()` (the `BodyGeneratorFunction` contract of
    `request_stream`/`request_lines`) or read whole through `read_all()` (what `request` uses).
    Either releases the connection at the end."""

    __slots__ = ("_limits", "_log", "_resp", "_spec")

    def __init__(
        self, resp: aiohttp.ClientResponse, spec: RequestSpec, limits: HTTPLimits, log: logging.Logger
    ) -> None:
        self._resp = resp
        self._spec = spec
        self._limits = limits
        self._log = log

    def __call__(self) -> AsyncGenerator[bytes, None]:
        return self._stream()

    async def _stream(self) -> AsyncGenerator[bytes, None]:
        reader = _Reader(
            self._resp, self._spec, self._limits, self._log, self._limits.stream_timeout, "streamed"
        )
        try:
            while chunk := await reader.next_chunk():
                yield chunk
        except body_read_errors() as exc:
            scrubbed = self._spec.scrubbed_url()
            raise ResponseBodyError(
                f"Reading the response body failed mid-stream: {redact(describe_fault(exc))}\nURL: {scrubbed}",
                0,
                url=scrubbed,
                headers=self._resp.headers,
            ) from exc
        finally:
            self._resp.release()

    async def read_all(self) -> bytes:
        """The whole body, within the size and time limits. Raises `ResponseTooLargeError` past
        a size limit, `WaitExpired` (a `TimeoutError`) past a deadline."""
        reader = _Reader(
            self._resp, self._spec, self._limits, self._log, self._limits.body_timeout, "buffered"
        )
        try:
            return await reader.read_all(self._limits.max_body_bytes)
        finally:
            self._resp.release()


async def read_error_body(
    resp: aiohttp.ClientResponse, spec: RequestSpec, limits: HTTPLimits, log: logging.Logger
) -> bytes:
    """The first `ERROR_BODY_LIMIT` bytes of an error response's body, for the error message
    and `should_retry`; whatever arrived if it cannot be read (the status decides what happens
    next, not the body)."""
    # An error body is short, or not worth waiting for: it gets `idle_timeout` in all.
    reader = _Reader(resp, spec, limits, log, limits.idle_timeout, "error")
    try:
        return await reader.read_all(ERROR_BODY_LIMIT, truncate=True)
    except body_read_errors():
        return reader.received()
    finally:
        resp.release()


class _Reader:
    """Reads one body piece by piece, enforcing the deadlines and counting what arrived."""

    __slots__ = (
        "_announce_at",
        "_budget",
        "_chunks",
        "_content",
        "_encoded",
        "_limits",
        "_log",
        "_loop",
        "_resp",
        "_size",
        "_spec",
        "_waited",
        "_what",
    )

    def __init__(
        self,
        resp: aiohttp.ClientResponse,
        spec: RequestSpec,
        limits: HTTPLimits,
        log: logging.Logger,
        budget: float,
        what: str,
    ) -> None:
        self._resp = resp
        self._content = resp.content
        self._spec = spec
        self._limits = limits
        self._log = log
        self._loop = asyncio.get_running_loop()
        self._budget = budget
        self._what = what
        self._encoded = resp.headers.get("Content-Encoding", "identity").lower() not in ("", "identity")
        self._chunks: list[bytes] = []
        self._size = 0
        self._waited = 0.0
        self._announce_at = limits.status_after

    def received(self) -> bytes:
        return b"".join(self._chunks)

    async def read_all(self, max_bytes: int, *, truncate: bool = False) -> bytes:
        """Every chunk, joined. Past `max_bytes` the rest is dropped (`truncate`) or the read
        fails with `ResponseTooLargeError`."""
        length = self._resp.content_length
        if not truncate and length is not None and length > max_bytes:
            raise self._too_large(
                f"Content-Length: {format_size(length)}", "the size limit for a buffered body"
            )
        chunks = self._chunks
        while chunk := await self.next_chunk():
            if self._size > max_bytes:
                if truncate:
                    chunks.append(chunk[: len(chunk) - (self._size - max_bytes)])
                    break
                raise self._too_large(
                    f"{format_size(self._size)} so far" + (", decompressed" if self._encoded else ""),
                    "the size limit for a buffered body",
                )
            chunks.append(chunk)
            if self._encoded and self._size >= self._limits.ratio_check_after:
                self._check_ratio()
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def next_chunk(self) -> bytes:
        """The next piece of the body (empty at its end), waiting at most `idle_timeout` for it
        and `budget` for all pieces together; a wait past `status_after` is announced."""
        content = self._content
        if chunk := content.read_nowait():
            # Already here: no wait, so no deadline to arm (the common case, and the cheap one).
            self._size += len(chunk)
            return chunk
        if content.at_eof():
            return b""
        limits = self._limits
        started = self._loop.time()
        idle_end = started + limits.idle_timeout
        budget_end = started + (self._budget - self._waited)
        watch = Watch(
            min(idle_end, budget_end),
            started + (self._announce_at - self._waited),
            lambda: self._announce(self._waited + self._loop.time() - started),
        )
        try:
            chunk = await content.readany()
        except asyncio.CancelledError:
            if not watch.stop():
                raise
            if budget_end <= idle_end:
                raise self._expired(
                    f"the response body took longer than {format_duration(self._budget)} to arrive"
                ) from None
            raise self._expired(
                f"the response body stalled: no data for {format_duration(limits.idle_timeout)}"
            ) from None
        finally:
            watch.stop()
        self._waited += self._loop.time() - started
        self._size += len(chunk)
        if self._waited >= self._announce_at:
            self._announce(self._waited)
        return chunk

    def _announce(self, waited: float) -> None:
        status_event(
            self._log,
            f"still reading the {self._what} response body of {self._spec.scrubbed_url()}: "
            f"{format_size(self._size)} in {format_duration(waited)} of waiting (gives up after "
            f"{format_duration(self._limits.idle_timeout)} without data or "
            f"{format_duration(self._budget)} in all)",
        )
        # Announce again each time the wait doubles: a status, not a stream of them.
        self._announce_at = max(self._announce_at, waited) * 2

    def _expired(self, what: str) -> WaitExpired:
        return WaitExpired(f"{what} ({format_size(self._size)} received)")

    def _check_ratio(self) -> None:
        compressed = getattr(self._content, "total_compressed_bytes", None)
        if not compressed:
            return
        ratio = self._size / compressed
        if ratio > self._limits.max_compression_ratio:
            raise self._too_large(
                f"{format_size(compressed)} compressed became {format_size(self._size)}, {ratio:.0f} times as much",
                f"the {self._limits.max_compression_ratio:g}x limit on decompression (a decompression bomb?)",
            )

    def _too_large(self, size: str, limit: str) -> ResponseTooLargeError:
        scrubbed = self._spec.scrubbed_url()
        max_bytes = format_size(self._limits.max_body_bytes)
        return ResponseTooLargeError(
            f"The response body is too large to read whole ({size}): over {limit} "
            f"(HTTPLimits.max_body_bytes = {max_bytes}, max_compression_ratio = "
            f"{self._limits.max_compression_ratio:g}). Read it with request_stream or request_lines, "
            f"which hold one chunk at a time, or raise the limit in the session's HTTPLimits.\n"
            f"URL: {scrubbed}",
            self._resp.status,
            url=scrubbed,
            headers=self._resp.headers,
        )
