"""Decompress a gzip byte stream incrementally, with bounded memory."""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterable, AsyncIterator

__all__ = ["GunzipStream"]

# Upper bound on the bytes one decompression step may produce, so a small, highly compressed
# chunk can't balloon into a huge buffer (decompression-bomb safe).
_MAX_OUTPUT = 1 << 20


class GunzipStream:
    """An async iterator of the decompressed bytes of a gzip stream. Concatenated gzip members
    (as produced by `cat a.gz b.gz` or multi-member writers) are decompressed one after another.
    A stream that ends inside a member raises `EOFError`."""

    def __init__(self, input: AsyncIterable[bytes]) -> None:
        self.input = input
        self.done = False
        self._gen = self._run()

    def __aiter__(self) -> GunzipStream:
        return self

    async def __anext__(self) -> bytes:
        return await anext(self._gen)

    async def _run(self) -> AsyncIterator[bytes]:
        decomp = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        in_member = False
        async for chunk in self.input:
            data = chunk
            while data:
                in_member = True
                out = decomp.decompress(data, _MAX_OUTPUT)
                if out:
                    yield out
                while decomp.unconsumed_tail:
                    out = decomp.decompress(decomp.unconsumed_tail, _MAX_OUTPUT)
                    if out:
                        yield out
                if decomp.eof:
                    data = decomp.unused_data
                    decomp = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
                    in_member = False
                else:
                    data = b""
        if in_member:
            tail = decomp.flush()
            if tail:
                yield tail
            if not decomp.eof:
                raise EOFError("gzip stream ended before the end of its last member")
        self.done = True
