"""Yield records from a streamed JSON (or NDJSON) body without holding the body in memory.

    processor = IncrementalJsonProcessor(body(), "data.items.item", Item, remainder_cls=Page)
    async for item in processor:
        ...
    next_cursor = processor.get_remainder().next

`prefix` is an ijson path: `"items.item"` is every element of the top-level `items` array, `""`
with NDJSON is every whole line. Everything outside the prefix (e.g. `{"items": [], "next": "x"}`)
is rebuilt and available once iteration finished, through `get_remainder()`.

Differences from the reference kit, on purpose:
* `get_remainder()` works on empty input (the remainder is then `{}`).
* `streamed_item_cls=None` yields plain dicts/values (no validation cost).
* Non-integer numbers are floats, not `Decimal`, so documents serialize as JSON numbers.
* The records are parsed and built by ijson's C backend (`items_async`); the remainder's parse
  events are only produced and walked when a remainder model was asked for, so a plain item
  stream costs a single C-level parse (a remainder adds a second, cheaper event-level parse).
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Callable
from typing import Any, Generic, TypeVar, cast

import ijson  # type: ignore[import-untyped]
from pydantic import BaseModel

StreamedItem = TypeVar("StreamedItem")
Remainder = TypeVar("Remainder", bound=BaseModel)

__all__ = ["IncrementalJsonProcessor"]


class _NoopRemainder(BaseModel):
    pass


class _RemainderBuilder:
    """Rebuilds the JSON value(s) outside the prefix from ijson parse events. With several
    top-level values (NDJSON) the last one wins."""

    def __init__(self) -> None:
        self.value: Any = None
        self._stack: list[Any] = []
        self._keys: list[str | None] = []

    def _add(self, value: Any) -> None:
        if not self._stack:
            self.value = value
            return
        container = self._stack[-1]
        if isinstance(container, list):
            container.append(value)
        else:
            container[self._keys[-1]] = value

    def event(self, event: str, value: Any) -> None:
        if event == "map_key":
            self._keys[-1] = value
        elif event == "start_map":
            new: dict[str, Any] = {}
            self._add(new)
            self._stack.append(new)
            self._keys.append(None)
        elif event == "start_array":
            arr: list[Any] = []
            self._add(arr)
            self._stack.append(arr)
            self._keys.append(None)
        elif event in ("end_map", "end_array"):
            self._stack.pop()
            self._keys.pop()
        else:
            self._add(value)


class _ChunkReader:
    """Presents an async iterator of byte chunks as the async `read(n)` file ijson's C backend
    consumes (so records are parsed and built entirely in C), optionally handing every chunk to
    `tee` as well (the remainder parser)."""

    def __init__(self, chunks: AsyncIterable[bytes], tee: Callable[[bytes], None] | None) -> None:
        self._chunks = aiter(chunks)
        self._tee = tee
        self._buf = b""
        self._pos = 0
        self.eof = False
        self.saw_data = False

    async def read(self, size: int = -1) -> bytes:
        if size == 0:
            return b""
        while self._pos >= len(self._buf):
            if self.eof:
                return b""
            try:
                chunk = await anext(self._chunks)
            except StopAsyncIteration:
                self.eof = True
                return b""
            if chunk:
                if not self.saw_data:
                    self.saw_data = not chunk.isspace()
                if self._tee is not None:
                    self._tee(chunk)
                self._buf, self._pos = bytes(chunk), 0
        if self._pos == 0 and (size < 0 or size >= len(self._buf)):
            self._pos = len(self._buf)
            return self._buf
        end = len(self._buf) if size < 0 else self._pos + size
        out = self._buf[self._pos : end]
        self._pos += len(out)
        return out


class IncrementalJsonProcessor(Generic[StreamedItem, Remainder]):
    """An async iterator over the JSON values at `prefix` in the byte stream `input`,
    validated as `streamed_item_cls` (with `validation_context`) when one is given."""

    def __init__(
        self,
        input: AsyncIterable[bytes],
        prefix: str,
        streamed_item_cls: type[StreamedItem] | None = None,
        remainder_cls: type[Remainder] = _NoopRemainder,  # type: ignore[assignment]
        validation_context: object | None = None,
    ) -> None:
        self.input = input
        self.prefix = prefix
        self.streamed_item_cls = streamed_item_cls
        self.remainder_cls = remainder_cls
        self.validation_context = validation_context
        self.done = False

        self._remainder = _RemainderBuilder()
        self._prefix_parts = prefix.split(".") if prefix else []
        self._stack: list[list[Any]] = []  # [is_map, on_prefix, depth, current key] per container
        self._skip = 0  # > 0 while inside an item at the prefix: its nesting depth
        self._events = ijson.sendable_list()
        self._events_coro: Any = None
        if remainder_cls is not _NoopRemainder:
            self._events_coro = ijson.basic_parse_coro(self._events, multiple_values=True, use_float=True)
        self._reader = _ChunkReader(input, self._tee if self._events_coro is not None else None)
        self._items: Any = ijson.items_async(self._reader, prefix, multiple_values=True, use_float=True)
        self._validate = getattr(streamed_item_cls, "model_validate", None)

    def __aiter__(self) -> IncrementalJsonProcessor[StreamedItem, Remainder]:
        return self

    async def __anext__(self) -> StreamedItem:
        if self.done:
            raise StopAsyncIteration
        try:
            value = await anext(self._items)
        except StopAsyncIteration:
            self._finish()
            raise
        except ijson.JSONError as exc:
            if not self._reader.saw_data and self._reader.eof:
                # Empty or whitespace-only input: no values and an empty remainder.
                self.done = True
                raise StopAsyncIteration from None
            raise _json_error(exc) from exc
        if self._validate is not None:
            return cast(StreamedItem, self._validate(value, context=self.validation_context))
        return cast(StreamedItem, value)

    def get_remainder(self) -> Remainder:
        """Everything outside `prefix`, once the input is exhausted."""
        if not self.done:
            raise RuntimeError("attempted to access remainder before fully processing input")
        value = self._remainder.value
        return self.remainder_cls.model_validate({} if value is None else value)

    def _tee(self, chunk: bytes) -> None:
        try:
            self._events_coro.send(chunk)
        except ijson.JSONError:
            return  # the item parser reports the same error, with its context
        self._drain()

    def _finish(self) -> None:
        if self._events_coro is not None and self._reader.saw_data:
            try:
                self._events_coro.close()
            except ijson.JSONError as exc:
                raise _json_error(exc) from exc
            self._drain()
        self.done = True

    def _drain(self) -> None:
        # Walks ijson's *basic* events (no per-event path strings, which cost more than the
        # parse itself) and tracks just enough of the path to tell the items at `prefix` apart:
        # an item is skipped whole by counting its depth, everything else feeds the builder.
        events = self._events
        if not events:
            return
        builder = self._remainder
        prefix, size = self._prefix_parts, len(self._prefix_parts)
        stack = self._stack
        skip = self._skip
        for event, value in events:
            if skip:
                if event in _STARTS:
                    skip += 1
                elif event in _ENDS:
                    skip -= 1
                continue
            if event == "map_key":
                stack[-1][3] = value
                builder.event(event, value)
                continue
            if event in _ENDS:
                stack.pop()
                builder.event(event, value)
                continue
            # A scalar or a container start: its path is its container's path plus the map key
            # (or "item" in an array). `matches` says whether that path is still on the prefix.
            if stack:
                is_map, matches, depth, key = stack[-1]
                depth += 1
                matches = matches and depth <= size and (key if is_map else "item") == prefix[depth - 1]
            else:
                depth, matches = 0, True
            if matches and depth == size:
                if event in _STARTS:
                    skip = 1
                continue
            if event in _STARTS:
                stack.append([event == "start_map", matches, depth, None])
            builder.event(event, value)
        self._skip = skip
        del events[:]


_STARTS = frozenset(("start_map", "start_array"))
_ENDS = frozenset(("end_map", "end_array"))


def _json_error(exc: Exception) -> ValueError:
    # yajl reports every parse failure as "incomplete"; only a premature EOF really is.
    text = str(exc).strip()
    if "premature EOF" in text:
        return ValueError(f"Incomplete JSON structure: {text}")
    return ValueError(f"Invalid JSON: {text}")
