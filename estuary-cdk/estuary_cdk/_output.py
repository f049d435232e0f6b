"""Ordered, non-interleaved writes of response bytes to the connector's output.

Each connector owns one `OutputWriter` for its output (capture and materialization alike); a
session writes through it and `serve()` drains it before the process exits. Every unit (a
capture task's documents plus their checkpoint, a batch of `loaded` responses) is handed over
whole, so two writers' units can never interleave.

A real file descriptor (a pipe to the runtime, or a regular file) is written by one dedicated
writer thread: a pipe may block when the runtime is slow to read, which the event loop must not,
and on a regular file the write overlaps with the next batch's serialization on another core.
The hand-off is per unit, never per line, and back-pressure keeps at most `HIGH_WATER` bytes
queued. In-memory outputs (tests) are written inline.
"""

from __future__ import annotations

import asyncio
import io
import os
import threading
from collections import deque
from typing import IO, BinaryIO

from ._errors import ConnectorError

__all__ = ["HIGH_WATER", "LOW_WATER", "OutputWriteError", "OutputWriter"]

HIGH_WATER = 2 << 20
"""Queued bytes above which committing tasks wait for the writer thread."""
LOW_WATER = 512 << 10

_COPY_CHUNK = 1 << 20

Chunk = bytes | bytearray | memoryview | IO[bytes]


class OutputWriteError(ConnectorError):
    """Writing to the connector's output failed (e.g. the runtime closed the pipe)."""


def _size_of(item: Chunk) -> int:
    if isinstance(item, bytes | bytearray | memoryview):
        return len(item)
    pos = item.seek(0, os.SEEK_END)
    item.seek(0)
    return pos


class OutputWriter:
    def __init__(self, output: BinaryIO) -> None:
        self.output = output
        self._fd: int | None = None
        try:
            fd = output.fileno()
        except (OSError, AttributeError, io.UnsupportedOperation):
            fd = None
        if fd is not None:
            # Bytes someone wrote through the Python-level buffer must go first; from here on
            # we write to the descriptor directly, so the thread never holds a Python io lock
            # (a daemon thread holding one at interpreter exit aborts the process).
            output.flush()
            self._fd = fd
        self._threaded = fd is not None
        self._lock = threading.Lock()
        self._queue: deque[tuple[Chunk, int]] = deque()
        self._wakeup = threading.Condition(self._lock)
        self._pending = 0
        self._error: BaseException | None = None
        self._waiters: list[tuple[int, asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self._thread: threading.Thread | None = None

    # -- writing -------------------------------------------------------------------------------

    def _write_all(self, data: bytes | bytearray | memoryview) -> None:
        if self._fd is None:
            self.output.write(data)
            self.output.flush()
            return
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]

    def _write_item(self, item: Chunk) -> None:
        if isinstance(item, bytes | bytearray | memoryview):
            self._write_all(item)
            return
        try:
            item.seek(0)
            while chunk := item.read(_COPY_CHUNK):
                self._write_all(chunk)
        finally:
            item.close()

    def write(self, item: Chunk) -> None:
        """Queue `item` (bytes, or a readable binary file that is closed once written) after
        everything queued before it. Raises if an earlier write failed."""
        if self._error is not None:
            raise OutputWriteError(f"writing to the connector output failed: {self._error}") from self._error
        if not self._threaded:
            try:
                self._write_item(item)
            except OSError as exc:
                self._error = exc
                raise OutputWriteError(f"writing to the connector output failed: {exc}") from exc
            return
        size = _size_of(item)
        with self._lock:
            self._queue.append((item, size))
            self._pending += size
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="flow-output-writer", daemon=True)
                self._thread.start()
            self._wakeup.notify()

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._queue:
                    self._wakeup.wait()
                item, size = self._queue[0]
            try:
                self._write_item(item)
            except BaseException as exc:
                with self._lock:
                    self._error = exc
                    self._queue.clear()
                    self._pending = 0
                    waiters, self._waiters = self._waiters, []
                for _, loop, fut in waiters:
                    self._resolve(loop, fut, exc)
                return
            with self._lock:
                self._queue.popleft()
                self._pending -= size
                ready = [w for w in self._waiters if self._pending <= w[0]]
                if ready:
                    self._waiters = [w for w in self._waiters if self._pending > w[0]]
            for _, loop, fut in ready:
                self._resolve(loop, fut, None)

    @staticmethod
    def _resolve(
        loop: asyncio.AbstractEventLoop, fut: asyncio.Future[None], exc: BaseException | None
    ) -> None:
        def settle() -> None:
            if fut.done():
                return
            if exc is None:
                fut.set_result(None)
            else:
                fut.set_exception(OutputWriteError(f"writing to the connector output failed: {exc}"))

        try:
            loop.call_soon_threadsafe(settle)
        except RuntimeError:
            pass  # The loop is gone; nobody is waiting any more.

    # -- waiting -------------------------------------------------------------------------------

    async def _wait_until(self, threshold: int) -> None:
        if self._error is not None:
            raise OutputWriteError(f"writing to the connector output failed: {self._error}") from self._error
        if not self._threaded:
            return
        loop = asyncio.get_running_loop()
        with self._lock:
            # A failing write clears the queue (pending drops to 0) as it records the error, so
            # the error must be read under the same lock or a drain could report success.
            error = self._error
            if error is None and self._pending <= threshold:
                return
            if error is None:
                fut: asyncio.Future[None] = loop.create_future()
                self._waiters.append((threshold, loop, fut))
        if error is not None:
            raise OutputWriteError(f"writing to the connector output failed: {error}") from error
        await fut

    async def throttle(self) -> None:
        """Wait while more than `HIGH_WATER` bytes are queued (back-pressure)."""
        if self._pending > HIGH_WATER:
            await self._wait_until(LOW_WATER)
        elif self._error is not None:
            raise OutputWriteError(f"writing to the connector output failed: {self._error}") from self._error

    async def drain(self) -> None:
        """Wait until everything queued so far has been written."""
        await self._wait_until(0)
