"""Reading the runtime's requests: newline-delimited JSON on stdin, in batches of lines.

A daemon thread reads the descriptor (so every kind of stdin works: a pipe, a socket, a terminal
or a redirected regular file, and the thread never keeps the process alive) and hands whole
chunks to the event loop. `LineSource` splits them into lines a batch at a time: unary requests
and a capture's acknowledgements are parsed one by one (`requests`), while a materialization's
transaction loop takes the rest of the input a batch at a time (`next_batch`), with one parse per
line and no per-line await.
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from collections.abc import AsyncGenerator, AsyncIterable
from typing import Any, TypeVar

import orjson
import pydantic
from pydantic import BaseModel

from ._errors import MalformedRequestError

__all__ = [
    "MAX_REQUEST_LINE",
    "LineSource",
    "describe_validation_error",
    "load_request_object",
    "parse_request_line",
    "stdin_jsonl",
]

Request = TypeVar("Request", bound=BaseModel)

MAX_REQUEST_LINE = 1 << 27
"""Longest accepted request line (128 MiB, like the reference kit)."""

_READ_CHUNK = 1 << 20
_READ_AHEAD = 4
"""Chunks read ahead of the consumer (at most ~4 MiB of requests wait in memory)."""
_MAX_REPORTED_ERRORS = 5


def describe_validation_error(exc: pydantic.ValidationError) -> str:
    """The first few problems of a pydantic error on one line (`loc: msg; ...`), without the
    values that failed: a config's value may be a secret in the wrong place."""
    from ._config_errors import masked_message

    parts: list[str] = []
    for err in exc.errors()[:_MAX_REPORTED_ERRORS]:
        loc = ".".join(str(p) for p in err.get("loc", ())) or "(root)"
        parts.append(f"{loc}: {masked_message(err)}")
    more = exc.error_count() - _MAX_REPORTED_ERRORS
    if more > 0:
        parts.append(f"and {more} more error(s)")
    return "; ".join(parts)


def load_request_object(line: bytes, lineno: int) -> dict[str, Any]:
    """One request line's JSON object, or `MalformedRequestError` saying what is wrong and where
    (the Airbyte shim, which runs without pydantic models, reads its requests with this too)."""
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise MalformedRequestError(f"malformed request on line {lineno}: invalid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise MalformedRequestError(
            f"malformed request on line {lineno}: expected a JSON object, got {type(value).__name__}"
        )
    return value


def parse_request_line(cls: type[Request], line: bytes, lineno: int) -> Request:
    """Parse one request line into `cls`, raising `MalformedRequestError` with a one-line
    description of what is wrong (instead of a pydantic traceback)."""
    value = load_request_object(line, lineno)
    try:
        request = cls.model_validate(value)
    except pydantic.ValidationError as exc:
        raise MalformedRequestError(
            f"malformed request on line {lineno}: {describe_validation_error(exc)}"
        ) from None
    if all(getattr(request, name) is None for name in request.model_fields_set):
        expected = ", ".join(info.alias or name for name, info in cls.model_fields.items())
        got = ", ".join(sorted(value)) or "none"
        raise MalformedRequestError(
            f"malformed request on line {lineno}: expected one of the keys {expected}; got {got}"
        )
    return request


async def read_descriptor(fd: int) -> AsyncGenerator[bytes, None]:
    """Chunks read from `fd` on a daemon thread, until EOF. At most `_READ_AHEAD` chunks wait to
    be taken: the thread then stops reading, so a fast input (a file, a busy runtime) is held
    back by the pipe or the file, not buffered here without bound."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[bytes | None] = asyncio.Queue()
    slots = threading.Semaphore(_READ_AHEAD)

    def post(item: bytes | None) -> bool:
        try:
            loop.call_soon_threadsafe(queue.put_nowait, item)
        except RuntimeError:
            return False  # The event loop is closed: nobody reads any more.
        return True

    def run() -> None:
        while True:
            slots.acquire()
            try:
                chunk = os.read(fd, _READ_CHUNK)
            except OSError:
                chunk = b""
            if not post(chunk or None) or not chunk:
                return

    threading.Thread(target=run, name="flow-stdin-reader", daemon=True).start()
    while (chunk := await queue.get()) is not None:
        slots.release()
        yield chunk


class LineSource:
    """The request lines of one input, a batch at a time. Blank lines are kept in batches (so
    line numbers stay right) and skipped by `requests`."""

    def __init__(self, chunks: AsyncIterable[bytes]) -> None:
        self._chunks = aiter(chunks)
        self._pending = bytearray()  # an incomplete last line
        self._batch: list[bytes] = []
        self._pos = 0
        self._first_lineno = 1  # line number of self._batch[0]
        self._eof = False

    @classmethod
    def stdin(cls) -> LineSource:
        fd = sys.stdin.fileno() if sys.stdin is not None else 0
        return cls(read_descriptor(fd))

    @classmethod
    def of(cls, data: bytes) -> LineSource:
        """A source over bytes in memory (tests, tools)."""

        async def one() -> AsyncGenerator[bytes, None]:
            yield data

        return cls(one())

    @property
    def lineno(self) -> int:
        """Line number of the next line `next_batch` or `next_line` returns."""
        return self._first_lineno + self._pos

    async def _fill(self) -> bool:
        """Read until a batch of complete lines is available; False at the end of the input."""
        while self._pos >= len(self._batch):
            self._first_lineno += len(self._batch)
            self._batch, self._pos = [], 0
            if self._eof:
                return False
            try:
                chunk = await anext(self._chunks)
            except StopAsyncIteration:
                self._eof = True
                if self._pending.strip():
                    self._batch = [bytes(self._pending)]
                self._pending = bytearray()
                continue
            if b"\n" not in chunk:
                self._pending += chunk
                self._check_length()
                continue
            if self._pending:
                chunk = bytes(self._pending) + chunk
                self._pending = bytearray()
            lines = chunk.split(b"\n")
            self._pending += lines.pop()
            self._check_length()
            self._batch = lines
        return True

    def _check_length(self) -> None:
        if len(self._pending) > MAX_REQUEST_LINE:
            raise MalformedRequestError(
                f"malformed request on line {self._first_lineno + len(self._batch)}: "
                f"longer than {MAX_REQUEST_LINE} bytes"
            )

    async def next_batch(self) -> list[bytes] | None:
        """Every line not yet taken from the current batch (at least one, maybe blank), or None
        at the end of the input. The first line's number is `lineno` before the call."""
        if not await self._fill():
            return None
        batch = self._batch[self._pos :] if self._pos else self._batch
        self._first_lineno += self._pos
        self._batch, self._pos = batch, len(batch)
        return batch

    async def next_line(self) -> bytes | None:
        """The next line (maybe blank), or None at the end of the input."""
        if not await self._fill():
            return None
        line = self._batch[self._pos]
        self._pos += 1
        return line

    async def requests(self, cls: type[Request]) -> AsyncGenerator[Request, None]:
        """Every non-blank line parsed as `cls`, until the end of the input (or until another
        reader took the rest of it with `next_batch`)."""
        while True:
            lineno = self.lineno
            line = await self.next_line()
            if line is None:
                return
            if line.strip():
                yield parse_request_line(cls, line, lineno)


async def stdin_jsonl(cls: type[Request]) -> AsyncGenerator[Request, None]:
    """Yield every request line of stdin parsed as `cls`, until EOF. Blank lines are skipped."""
    async for request in LineSource.stdin().requests(cls):
        yield request
