"""Preview's stdout lines, byte-compatible with flowctl's (flow-protocol §5.2)."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import stat
import sys
from typing import Any, BinaryIO

import orjson

_PIPE_SIZE = 1 << 20
_WRITE_BUFFER_HIGH = 4 << 20
_DOC_OPTS = orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE


def document_line(collection: str, doc: Any) -> bytes:
    """`["<collection>",{doc}]` with object keys sorted (the runtime's documents keep their
    properties ordered by name)."""
    try:
        return orjson.dumps([collection, doc], option=_DOC_OPTS)
    except TypeError:  # integers beyond 64 bits
        return (
            json.dumps([collection, doc], sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
            + b"\n"
        )


def state_line(updated: Any, merge_patch: bool) -> bytes:
    """`["connectorState",{"updated":…,"mergePatch":true}]`; `mergePatch` is omitted when false
    (proto3 JSON), which means "replace"."""
    body: dict[str, Any] = {"updated": updated}
    if merge_patch:
        body["mergePatch"] = True
    try:
        return orjson.dumps(["connectorState", body], option=orjson.OPT_APPEND_NEWLINE)
    except TypeError:
        return (
            json.dumps(["connectorState", body], separators=(",", ":"), ensure_ascii=False).encode() + b"\n"
        )


def rust_debug_str(text: str) -> str:
    """A string as Rust's `{:?}` prints it."""
    out = ['"']
    for ch in text:
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\0":
            out.append("\\0")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{{{ord(ch):x}}}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def applied_line(description: str) -> bytes:
    """`["applied.actionDescription", "<text>"]` (note the space, and Rust string escaping)."""
    return f'["applied.actionDescription", {rust_debug_str(description)}]\n'.encode()


class Output:
    """Writes output to stdout without blocking the event loop: through an asyncio pipe
    transport when stdout is a pipe (flow control via `drain`), else with plain writes (regular
    files and terminals do not block for long)."""

    def __init__(self, stream: BinaryIO | None = None) -> None:
        self._stream: BinaryIO = stream if stream is not None else sys.stdout.buffer
        self._writer: asyncio.StreamWriter | None = None
        self._fd: int | None = None
        self._checked = False

    async def _pipe_writer(self) -> asyncio.StreamWriter | None:
        if self._checked:
            return self._writer
        self._checked = True
        try:
            fd = self._stream.fileno()
        except (AttributeError, OSError, ValueError):
            return None
        st = os.fstat(fd)
        if not stat.S_ISFIFO(st.st_mode):
            return None
        with contextlib.suppress(OSError):
            err = os.fstat(2)
            if (err.st_dev, err.st_ino) == (st.st_dev, st.st_ino):
                return None  # `2>&1`: non-blocking mode would also hit stderr's writes
        self._stream.flush()
        with contextlib.suppress(OSError, AttributeError):
            fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, _PIPE_SIZE)  # fewer wake-ups per batch
        self._fd = os.dup(fd)
        loop = asyncio.get_running_loop()
        transport, protocol = await loop.connect_write_pipe(
            lambda: asyncio.streams.FlowControlMixin(loop=loop), os.fdopen(self._fd, "wb", buffering=0)
        )
        transport.set_write_buffer_limits(high=_WRITE_BUFFER_HIGH)
        self._writer = asyncio.StreamWriter(transport, protocol, None, loop)
        return self._writer

    async def write(self, lines: list[bytes]) -> None:
        if not lines:
            return
        data = b"".join(lines)
        writer = await self._pipe_writer()
        if writer is None:
            self._stream.write(data)
            self._stream.flush()
            return
        try:
            writer.write(data)
            await writer.drain()
        except ConnectionResetError as err:  # the reader of the pipe went away
            raise BrokenPipeError(str(err)) from None

    async def close(self) -> None:
        """Flush and release the pipe (restoring blocking mode on the shared descriptor)."""
        if self._writer is not None:
            with contextlib.suppress(ConnectionError):
                await self._writer.drain()
            self._writer.close()
            with contextlib.suppress(Exception):
                await self._writer.wait_closed()
            self._writer = None
            with contextlib.suppress(OSError):
                os.set_blocking(self._stream.fileno(), True)
