"""Preview's stdout lines, byte-compatible with flowctl's (flow-protocol §5.2)."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any, BinaryIO

import orjson

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
    """Writes output batches off the event loop (stdout may be a slow pipe)."""

    def __init__(self, stream: BinaryIO | None = None) -> None:
        self._stream: BinaryIO = stream if stream is not None else sys.stdout.buffer

    def _write(self, data: bytes) -> None:
        self._stream.write(data)
        self._stream.flush()

    async def write(self, lines: list[bytes]) -> None:
        if lines:
            await asyncio.to_thread(self._write, b"".join(lines))
