"""Faults that answer in place of the application, the way a hostile or broken API would: a
huge body, a decompression bomb, a connection closed before any answer.

Bodies are generated while they are sent, one chunk at a time, so the test server never holds
them and can send gigabytes; a client that gives up simply ends the generation.
"""

from __future__ import annotations

import asyncio
import contextlib
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from aiohttp import web

CHUNK = 64 * 1024


@contextlib.contextmanager
def client_may_leave() -> Iterator[None]:
    """A client is expected to give up on these bodies part way: that ends the answer quietly."""
    try:
        yield
    except ConnectionError:  # reset, or aiohttp's "Connection lost" while draining
        pass


@dataclass(frozen=True)
class HugeBody:
    """Answer 200 with a JSON object of `size` bytes (`{"pad": "xxxx…"}`), generated as it is
    sent. With `declare_length` it carries a `Content-Length` (a client can refuse it before
    reading); without, it is chunked (the client only finds out by reading)."""

    size: int
    declare_length: bool = False

    @property
    def name(self) -> str:
        return f"huge-body:{self.size}"

    async def respond(self, request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        if self.declare_length:
            resp.content_length = self.size
        else:
            resp.enable_chunked_encoding()
        await resp.prepare(request)
        head, tail = b'{"pad": "', b'"}'
        remaining = max(0, self.size - len(head) - len(tail))
        filler = b"x" * CHUNK
        with client_may_leave():
            await resp.write(head)
            while remaining > 0:
                piece = filler[: min(CHUNK, remaining)]
                await resp.write(piece)
                remaining -= len(piece)
            await resp.write(tail)
            await resp.write_eof()
        return resp


@dataclass(frozen=True)
class GzipBomb:
    """Answer 200 with `Content-Encoding: gzip` and a body that decompresses to `size` zero
    bytes (about a thousand times its compressed size), compressed as it is sent."""

    size: int

    @property
    def name(self) -> str:
        return f"gzip-bomb:{self.size}"

    async def respond(self, request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "application/json", "Content-Encoding": "gzip"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        zeros = bytes(16 * CHUNK)
        remaining = self.size
        with client_may_leave():
            while remaining > 0:
                block = zeros[: min(len(zeros), remaining)]
                remaining -= len(block)
                if out := compressor.compress(block):
                    await resp.write(out)
                # Compressing zeros yields little to write (so no wait for the client to read):
                # let the loop run, as a client in the same loop must.
                await asyncio.sleep(0)
            await resp.write(compressor.flush())
            await resp.write_eof()
        return resp


@dataclass(frozen=True)
class Disconnect:
    """Read the request, then end the connection without any answer: `"close"` closes it
    cleanly (the client sees the server disconnect), `"abort"` resets it. aiohttp clients
    re-send an idempotent request (GET, PUT, DELETE...) once when that happens, so fault at
    least two requests for a client to see it."""

    how: Literal["close", "abort"] = "close"

    @property
    def name(self) -> str:
        return f"disconnect:{self.how}"

    async def respond(self, request: web.Request) -> web.StreamResponse:
        transport = request.transport
        if transport is not None:
            if self.how == "abort":
                transport.abort()
            else:
                transport.close()
        # The connection is gone; tell aiohttp so it neither writes nor reuses it.
        raise asyncio.CancelledError
