"""Stream the uncompressed contents of a ZIP archive."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator

from stream_unzip import async_stream_unzip

__all__ = ["UnzipStream"]


class UnzipStream:
    """An async iterator of the uncompressed bytes of **all files** of a ZIP archive,
    concatenated in archive order (APIs typically return a one-file archive). `done` is set once
    the archive was fully read. Decompression runs in a worker thread (stream-unzip's async
    adapter), so the event loop stays responsive."""

    def __init__(self, input: AsyncIterable[bytes]) -> None:
        self.input = input
        self.done = False
        self._gen = self._run()

    def __aiter__(self) -> UnzipStream:
        return self

    async def __anext__(self) -> bytes:
        return await anext(self._gen)

    async def _run(self) -> AsyncIterator[bytes]:
        async for _name, _size, chunks in async_stream_unzip(self.input):
            async for chunk in chunks:
                if chunk:
                    yield chunk
        self.done = True
