"""`Task`: the unit of capture work that emits documents and checkpoints.

A task buffers the `captured`/`sourcedSchema` lines it produces and writes them, followed by a
checkpoint, as one unit through the `Transactor`, so the runtime never sees one task's documents
committed under another task's checkpoint. Child tasks share the stopping signal: the first
child to fail records its error and asks every other task to stop gracefully.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import tempfile
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import IO, Any, BinaryIO

import orjson
import xxhash
from pydantic import BaseModel
from pydantic_core import to_jsonable_python

from ..http._clock import SYSTEM_CLOCK, Clock
from ..logger import FlowLogger
from ._model_json import model_json, serializer_for
from .connector_status import ConnectorStatus
from .document import AssociatedDocument, BaseDocument
from .request import Request
from .response import Response
from .transactor import AcknowledgementsEnded, Transactor

__all__ = [
    "DEFAULT_NUMERIC_BOUNDS",
    "DEFAULT_STRING_BOUNDS",
    "MultipleWritersTask",
    "Request",
    "Response",
    "Stopping",
    "Task",
    "dumps_document",
    "orjson_default",
    "with_sourced_schema_defaults",
]

DEFAULT_STRING_BOUNDS = {"minLength": 1, "maxLength": 1}
DEFAULT_NUMERIC_BOUNDS = {"minimum": 1, "maximum": 1}

# UTC datetimes as `...Z`, exactly like pydantic, so dict and model documents agree.
ORJSON_OPTIONS = orjson.OPT_UTC_Z


def orjson_default(obj: Any) -> Any:
    """Serialize what orjson does not: Decimal as a string, bytes as base64, pydantic models
    like model documents (`by_alias`, `exclude_unset`), and anything else pydantic knows
    (timedelta as an ISO 8601 duration, sets, ...)."""
    if isinstance(obj, Decimal):
        return str(obj)
    if isinstance(obj, bytes | bytearray):
        return base64.b64encode(obj).decode()
    if isinstance(obj, BaseModel):
        return obj.model_dump(mode="json", by_alias=True, exclude_unset=True)
    try:
        return to_jsonable_python(obj)
    except Exception as exc:
        raise TypeError(f"Type is not JSON serializable: {type(obj).__name__}") from exc


def dumps_document(doc: Any) -> bytes:
    """One document as compact JSON bytes, the way `captured` writes it."""
    if isinstance(doc, BaseModel):
        return model_json(doc)
    return orjson.dumps(doc, default=orjson_default, option=ORJSON_OPTIONS)


def checkpoint_line(state: Any, merge_patch: bool = True) -> bytes:
    """The `checkpoint` response line for `state` (a model, serialized `exclude_unset`, or a
    plain dict), a merge patch of the connector state unless `merge_patch=False`."""
    patch = b"true" if merge_patch else b"false"
    return (
        b'{"checkpoint":{"state":{"updated":' + dumps_document(state) + b',"mergePatch":' + patch + b"}}}\n"
    )


_NUMERIC_TYPES = ("integer", "number")
_SUBSCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions")
_SUBSCHEMA_LISTS = ("oneOf", "anyOf", "allOf", "prefixItems")


def _tighten(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    out = dict(node)
    for key in _SUBSCHEMA_MAPS:
        members = out.get(key)
        if isinstance(members, dict):
            out[key] = {k: _tighten(v) for k, v in members.items()}
    for key in _SUBSCHEMA_LISTS:
        members = out.get(key)
        if isinstance(members, list):
            out[key] = [_tighten(v) for v in members]
    items = out.get("items")
    if isinstance(items, dict):
        out["items"] = _tighten(items)
    elif isinstance(items, list):
        out["items"] = [_tighten(v) for v in items]
    additional = out.get("additionalProperties")
    if isinstance(additional, dict):
        out["additionalProperties"] = _tighten(additional)

    if "properties" in out or "patternProperties" in out:
        out.setdefault("type", "object")
        out["additionalProperties"] = False
        required = list(out.get("required") or [])
        for name in out.get("properties") or {}:
            if name not in required:
                required.append(name)
        out["required"] = required

    types = out.get("type")
    type_list = types if isinstance(types, list) else [types]
    if "string" in type_list:
        out = {**DEFAULT_STRING_BOUNDS, **out}
    if any(t in type_list for t in _NUMERIC_TYPES):
        out = {**DEFAULT_NUMERIC_BOUNDS, **out}
    return out


def with_sourced_schema_defaults(schema: dict[str, Any]) -> dict[str, Any]:
    """Close and tighten a source-defined schema for `sourcedSchema` (input is not mutated).

    The runtime unions sourced schemas into the inferred schema, which only ever widens, so
    everything starts as tight as possible: objects closed with every property required, strings
    and numbers with minimal bounds, and the `_meta` block added.
    """
    out = copy.deepcopy(schema)
    out["type"] = "object"
    properties = dict(out.get("properties") or {})
    meta = BaseDocument.Meta.sourced_schema()
    declared = properties.get("_meta")
    if isinstance(declared, dict):
        merged_props = {**meta["properties"], **(declared.get("properties") or {})}
        meta = {**meta, **declared, "properties": merged_props}
    properties["_meta"] = meta
    out["properties"] = properties
    return _tighten(out)


_CAPTURED_SUFFIX = b"}}\n"
_PREFIXES: list[bytes] = [b'{"captured":{"binding":%d,"doc":' % i for i in range(256)]


def _captured_prefix(binding: int) -> bytes:
    if 0 <= binding < 256:
        return _PREFIXES[binding]
    return b'{"captured":{"binding":%d,"doc":' % binding


class _BaseTask:
    @dataclass
    class Stopping:
        """Shared by every task of a capture: `event` asks all tasks to stop gracefully; the
        first task that fails records its error here."""

        event: asyncio.Event = field(default_factory=asyncio.Event)
        webhook_event: asyncio.Event = field(default_factory=asyncio.Event)
        webhook_task: asyncio.Task[Any] | None = None
        first_error: Exception | None = None
        first_error_task: str | None = None

        def record_error(self, error: Exception, task_name: str) -> None:
            """Keep `error` as the capture's failure if it is the first, and ask every task to
            stop. `AcknowledgementsEnded` is never kept: it follows from the runtime closing our
            input (a shutdown), and keeping it would hide a real error raised after it."""
            if self.first_error is None and not isinstance(error, AcknowledgementsEnded):
                self.first_error = error
                self.first_error_task = task_name
            self.event.set()

    MAX_BUFFER_MEM = 8 << 20
    """Bytes of pending lines kept in memory before the buffer spills to a temporary file."""

    def __init__(
        self,
        log: FlowLogger,
        connector_status: ConnectorStatus,
        name: str,
        output: BinaryIO,
        stopping: Stopping,
        tg: asyncio.TaskGroup,
        transactor: Transactor,
        catalog_task_name: str = "",
        requires_ack: bool = False,
        *,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.log = log
        self.connector_status = connector_status
        self.name = name
        self.output = output
        self.stopping = stopping
        self.transactor = transactor
        self.catalog_task_name = catalog_task_name
        self.requires_ack = requires_ack
        self.clock = clock
        """The capture's time (`now()`, `sleep`): the connector's `clock`, shared with its HTTP
        session, so one fake clock drives a test's engine, HTTP and connector code."""
        self._tg = tg
        self._buf = bytearray()
        self._spill: IO[bytes] | None = None
        self._hasher = xxhash.xxh3_128()
        self._unhashed_from = 0  # Offset in `_buf` from which captured lines are not yet hashed.

    # -- emission ------------------------------------------------------------------------------

    def captured(self, binding: int, document: Any) -> None:
        """Buffer one document for `binding`; it is written with the task's next checkpoint."""
        buf = self._buf
        if type(document) is dict:
            body = orjson.dumps(document, default=orjson_default, option=ORJSON_OPTIONS)
        elif (serialize := serializer_for(document.__class__)) is not None:
            body = serialize(document)  # A model: its class's serializer (one dict lookup).
        elif isinstance(document, AssociatedDocument):
            self.captured(document.binding, document.doc)
            return
        else:
            body = orjson.dumps(document, default=orjson_default, option=ORJSON_OPTIONS)
        buf += _PREFIXES[binding] if 0 <= binding < 256 else _captured_prefix(binding)
        buf += body
        buf += _CAPTURED_SUFFIX
        if len(buf) > self.MAX_BUFFER_MEM:
            self._spill_buffer()

    def sourced_schema(self, binding_index: int, schema: dict[str, Any]) -> None:
        """Buffer a `sourcedSchema` for the binding (closed and tightened, see
        `with_sourced_schema_defaults`); it takes effect with the task's next checkpoint."""
        self._hash_pending()
        line = orjson.dumps(
            {
                "sourcedSchema": {
                    "binding": binding_index,
                    "schema_json": with_sourced_schema_defaults(schema),
                }
            },
            default=orjson_default,
        )
        self._buf += line
        self._buf += b"\n"
        self._unhashed_from = len(self._buf)

    def pending_digest(self) -> str:
        """xxh3-128 hex digest of the `captured` lines (without their newlines) buffered since the
        last checkpoint or reset."""
        self._hash_pending()
        return self._hasher.hexdigest()

    def reset(self) -> None:
        """Discard everything buffered since the last checkpoint."""
        self._buf = bytearray()
        self._unhashed_from = 0
        self._hasher.reset()
        if self._spill is not None:
            self._spill.close()
            self._spill = None

    async def checkpoint(self, state: Any, merge_patch: bool = True) -> None:
        """Write the buffered lines and then `state` as a checkpoint (a merge patch of the
        connector state unless `merge_patch=False`). With explicit acknowledgements, returns once
        the runtime acknowledged it."""
        fut = await self._commit(state, merge_patch, wait_for_ack=self.requires_ack)
        if fut is not None:
            await self._await_ack(fut)

    # -- internals -----------------------------------------------------------------------------

    async def _commit(self, state: Any, merge_patch: bool, wait_for_ack: bool) -> asyncio.Future[None] | None:
        buf = self._buf
        buf += checkpoint_line(state, merge_patch)
        data: bytearray | IO[bytes]
        if self._spill is not None:
            self._spill.write(buf)
            data = self._spill
            self._spill = None
        else:
            data = buf
        self._buf = bytearray()
        self._unhashed_from = 0
        self._hasher.reset()
        return await self.transactor.commit(data, wait_for_ack=wait_for_ack)

    async def _await_ack(self, fut: asyncio.Future[None]) -> None:
        try:
            await fut
        except asyncio.CancelledError:
            self.log.warning(
                "checkpoint cancelled while awaiting ACK; documents may be durable but caller will see failure"
            )
            raise

    def _hash_pending(self) -> None:
        start = self._unhashed_from
        buf = self._buf
        if start < len(buf):
            # Lines never contain a raw newline (JSON escapes it), so dropping every newline
            # yields the concatenation of the lines: the same digest as hashing line by line.
            self._hasher.update(buf[start:].replace(b"\n", b""))
            self._unhashed_from = len(buf)

    def _spill_buffer(self) -> None:
        self._hash_pending()
        if self._spill is None:
            self._spill = tempfile.TemporaryFile(prefix="flow-task-")
        self._spill.write(self._buf)
        self._buf = bytearray()
        self._unhashed_from = 0

    def _child_task(self, name: str, log: FlowLogger, tg: asyncio.TaskGroup) -> Task:
        return Task(
            log,
            self.connector_status,
            name,
            self.output,
            self.stopping,
            tg,
            self.transactor,
            self.catalog_task_name,
            self.requires_ack,
            clock=self.clock,
        )

    def spawn_child(self, name_suffix: str, child: Callable[[Task], Awaitable[None]]) -> asyncio.Task[None]:
        """Run `child` as a new task named `{self.name}.{name_suffix}`. If it raises, the error
        is logged, recorded as the capture's first error (if it is the first) and every task is
        asked to stop; siblings are not cancelled, so they can checkpoint what they have."""
        child_name = f"{self.name}.{name_suffix}"
        child_log = self.log.getChild(name_suffix)

        async def run() -> None:
            async with asyncio.TaskGroup() as child_tg:
                task = self._child_task(child_name, child_log, child_tg)
                try:
                    await child(task)
                except Exception as exc:
                    if isinstance(exc, AcknowledgementsEnded):
                        # The runtime is shutting us down, not a failure of this task.
                        child_log.warning(f"Task {child_name} stopped: {exc}")
                    else:
                        child_log.error(
                            f"Task {child_name} failed: {type(exc).__name__}: {exc}",
                            exc_info=exc,
                        )
                    self.stopping.record_error(exc, child_name)
                finally:
                    task._close()

        return self._tg.create_task(run(), name=child_name)

    def _close(self) -> None:
        if self._spill is not None:
            self._spill.close()
            self._spill = None


class Task(_BaseTask):
    """A capture task. See the module docstring."""


Stopping = _BaseTask.Stopping


class MultipleWritersTask(_BaseTask):
    """A task several coroutines emit through concurrently: each `emit` captures its documents
    and checkpoints them as one unit under a lock (ACKs are awaited outside it)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lock = asyncio.Lock()

    async def emit(self, items: Iterable[AssociatedDocument[Any]], state: Any) -> None:
        async with self._lock:
            try:
                for item in items:
                    self.captured(item.binding, item.doc)
                fut = await self._commit(state, True, wait_for_ack=self.requires_ack)
            except AcknowledgementsEnded:
                self.reset()
                raise
            except Exception:
                self.log.error("MultipleWritersTask emit failed; discarding partial buffer", exc_info=True)
                self.reset()
                raise
        if fut is not None:
            await self._await_ack(fut)
