"""Run an Airbyte CDK source behind Flow's capture protocol: `CaptureShim`.

An Airbyte-based connector's `__main__` is

    import estuary_cdk.pydantic_polyfill  # Must be first.
    import estuary_cdk.requests_session_send_patch  # Must be second.
    asyncio.run(shim_airbyte_cdk.CaptureShim(delegate=SourceX(), oauth2=..., schema_inference=True).serve())

and the shim maps Flow's requests onto the Airbyte source's operations:

* `spec` -> the source's `spec()`: its connection specification is the config schema, its
  documentation URL the spec's (or `DOCS_URL` from the environment, as images set it), `oauth2`
  as given, and a resource config of `stream`, `syncMode`, `namespace` and `cursorField` whose
  resource path is `[namespace, stream]` (or `[stream]`).
* `discover` -> `discover()`: a binding per Airbyte stream, keyed on its source-defined primary
  key (as JSON pointers), or, for a full-refresh stream without one, on `/_meta/row_id`; each
  schema gains `_meta.row_id`, and with `schema_inference` `x-infer-schema` and the deletion
  reduction. Incremental is proposed wherever the stream supports it.
* `validate` -> `check()`, then the bindings resolved against `discover()`.
* `open` -> `read()` of the bound streams with the Airbyte states saved in the Flow state.
  Each record becomes a document with `_meta: {op: "u", row_id}` (`row_id` counting up per
  binding across runs); each Airbyte STREAM state message is stored with its binding and the
  whole state is checkpointed (`mergePatch: false`), committing the documents read before it;
  a last checkpoint follows the end of the read, after which the process exits 0. Airbyte log
  and trace messages become log lines; whatever the source prints to stdout goes to stderr.

The Flow state is `{"bindingStateV1": {stateKey: {"rowId": n, "state": <AirbyteStateMessage>}}}`,
the shape the reference kit's shim reads and writes, so a task moves between the two kits either
way and resumes where it was.

Why this module is built the way it is: Airbyte connectors lock pydantic 1.10 (their
airbyte-cdk needs it) while the rest of the kit is written for pydantic 2 and must not be slowed
or complicated for them. So the shim depends on nothing pydantic-specific: requests are parsed
and written as plain JSON, resource configs and states are checked by hand,
and the Airbyte models are only touched through the attributes both airbyte-cdk generations
share. It builds on the kit's process framework (`estuary_cdk.BaseConnector`: request loop,
exit codes, last ERROR line, the one output writer) and the logger, which load under either
pydantic. airbyte-cdk itself is imported only when a request needs its models, so this module
also imports where airbyte-cdk is absent (the kit's own tests). The Airbyte read is a blocking
generator: it runs on a thread of its own, handing messages to the event loop in batches, so
writing to stdout (with back-pressure) and reading the runtime's input go on while the source
waits on HTTP.

Responses carry what the kit's pydantic-2 path writes for the same response (`disable` in
discovered bindings, `actionDescription` in `applied`, as the reference does) and nothing at a
default besides: no `"oauth2": null`. They are written with `json.dumps`'s spacing, as the
reference's shim writes them (pydantic 1's `.json()`), so its connectors' discover output is
byte-identical on both kits; documents and checkpoints are written compact, with orjson.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import decimal
import json
import logging
import os
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import IO, Any

import orjson

from . import BaseConnector, ConnectorError, MalformedRequestError, Stopped, ValidationError
from ._input import LineSource, load_request_object
from .flow import PROTOCOL_VERSION, OAuth2Spec
from .logger import FlowLogger, init_logger, register_secret

__all__ = [
    "PATH_POINTERS",
    "RESOURCE_CONFIG_SCHEMA",
    "CaptureShim",
    "ResourceConfig",
    "escape_field",
    "set_additional_properties_false",
    "transform_airbyte_key",
]

PATH_POINTERS = ["/namespace", "/stream"]
"""Where a resource config holds its resource path."""

RESOURCE_CONFIG_SCHEMA: dict[str, Any] = {
    "title": "ResourceConfig",
    "description": "ResourceConfig encodes a configured resource stream",
    "type": "object",
    "properties": {
        "_meta": {"title": "Meta", "type": "object"},
        "stream": {"title": "Stream", "description": "Name of this stream", "type": "string"},
        "syncMode": {
            "title": "Sync Mode",
            "description": "Sync this resource incrementally, or fully refresh it every run",
            "enum": ["full_refresh", "incremental"],
            "type": "string",
        },
        "namespace": {
            "title": "Namespace",
            "description": "Enclosing schema namespace of this resource",
            "type": "string",
        },
        "cursorField": {"title": "Cursor Field", "type": "array", "items": {"type": "string"}},
    },
    "required": ["stream", "syncMode"],
    "additionalProperties": False,
}
"""The resource config schema in `spec`: the one the reference kit's shim publishes (as its
pydantic-1 model renders it), so the Flow UI shows these connectors' bindings as before."""

SYNC_MODES = ("full_refresh", "incremental")
ROW_ID_KEY = "/_meta/row_id"

_RESTART_ENV = "ESTUARY_CDK_PERIODIC_RESTART_SECONDS"
_RESTART_INTERVAL = timedelta(hours=24)
_PIPE_CAPACITY = 64
"""Hand-overs the read thread may get ahead of the event loop."""
_HAND_OVER = 256
"""Records the read thread gathers before handing them over. Any other message (a state, a log
line, a trace) is handed over at once with the records before it: records are committed only by
the checkpoint of a later state message anyway, so gathering them delays no commit, and saves a
wake-up of the event loop per record (a third of the shim's cost per record without it)."""
_SPILL_AT = 64 << 20
"""Bytes of documents held in memory between two checkpoints before they move to a temporary
file (a full refresh checkpoints only at its end)."""

_LOG_LEVELS = {
    "FATAL": logging.ERROR,
    "ERROR": logging.ERROR,
    "WARN": logging.WARNING,
    "INFO": logging.INFO,
    "DEBUG": logging.DEBUG,
    "TRACE": logging.DEBUG,
}


# -- resource configs, keys and schemas ---------------------------------------------------------


@dataclass
class ResourceConfig:
    """One binding's resource: an Airbyte stream and how to sync it."""

    stream: str
    sync_mode: str
    namespace: str | None = None
    cursor_field: list[str] | None = None

    PATH_POINTERS = PATH_POINTERS

    def path(self) -> list[str]:
        return [self.namespace, self.stream] if self.namespace else [self.stream]

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"stream": self.stream, "syncMode": self.sync_mode}
        if self.namespace:
            out["namespace"] = self.namespace
        if self.cursor_field:
            out["cursorField"] = self.cursor_field
        return out

    @classmethod
    def model_json_schema(cls) -> dict[str, Any]:
        return copy.deepcopy(RESOURCE_CONFIG_SCHEMA)

    @classmethod
    def from_json(cls, value: Any, where: str) -> ResourceConfig:
        """Parse a binding's resource config, raising `ValidationError` naming every problem
        (`where` says which binding)."""
        if not isinstance(value, dict):
            raise ValidationError([f"{where}: the resource config must be an object"])
        errors: list[str] = []
        stream = value.get("stream")
        if not isinstance(stream, str):
            errors.append(f"{where}: 'stream' is required and must be a string")
        mode = value.get("syncMode")
        if mode not in SYNC_MODES:
            errors.append(f"{where}: 'syncMode' must be one of {', '.join(SYNC_MODES)} (got {mode!r})")
        namespace = value.get("namespace")
        if namespace is not None and not isinstance(namespace, str):
            errors.append(f"{where}: 'namespace' must be a string")
        cursor = value.get("cursorField")
        if cursor is not None and not (isinstance(cursor, list) and all(isinstance(c, str) for c in cursor)):
            errors.append(f"{where}: 'cursorField' must be a list of strings")
        if value.get("_meta") is not None and not isinstance(value.get("_meta"), dict):
            errors.append(f"{where}: '_meta' must be an object")
        unknown = sorted(set(value) - {"stream", "syncMode", "namespace", "cursorField", "_meta"})
        if unknown:
            errors.append(f"{where}: unknown field(s) {', '.join(unknown)} in the resource config")
        if errors:
            raise ValidationError(errors)
        return cls(stream=str(stream), sync_mode=str(mode), namespace=namespace, cursor_field=cursor)


def escape_field(name: str) -> str:
    """A property name as a JSON-pointer token (RFC 6901: `~` -> `~0`, `/` -> `~1`)."""
    return name.replace("~", "~0").replace("/", "~1")


def transform_airbyte_key(key: str | list[str] | list[list[str]]) -> list[str]:
    """An Airbyte primary key as pointer paths without the leading `/`: a property name, a list
    of them, or a list of property paths (lists of names, for nested properties)."""
    if isinstance(key, str):
        return [escape_field(key)]
    out: list[str] = []
    for component in key:
        if isinstance(component, str):
            out.append(escape_field(component))
        elif isinstance(component, list):
            out.append("/".join(escape_field(part) for part in component))
        else:
            raise ValueError(f"Invalid key component: {component!r}")
    return out


def set_additional_properties_false(schema: Any) -> Any:
    """A copy of a JSON schema with `additionalProperties: false` on every object schema (in
    properties, items and oneOf/anyOf/allOf), as a sourced schema must be closed."""
    if not isinstance(schema, dict):
        return schema
    out = dict(schema)
    kind = out.get("type")
    if kind == "object" or (isinstance(kind, list) and "object" in kind):
        out["additionalProperties"] = False
    for key, value in out.items():
        if key == "properties" and isinstance(value, dict):
            out[key] = {name: set_additional_properties_false(sub) for name, sub in value.items()}
        elif key == "items" and isinstance(value, dict | list):
            out[key] = (
                [set_additional_properties_false(v) for v in value]
                if isinstance(value, list)
                else set_additional_properties_false(value)
            )
        elif key in ("oneOf", "anyOf", "allOf") and isinstance(value, list):
            out[key] = [set_additional_properties_false(v) for v in value]
    return out


def _with_row_id(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` (copied) with the `_meta.row_id` every document of the shim carries."""
    schema = copy.deepcopy(schema) if isinstance(schema, dict) else {}
    meta = schema.setdefault("properties", {}).setdefault("_meta", {"type": "object"})
    meta.setdefault("properties", {})["row_id"] = {"type": "integer"}
    required = meta.setdefault("required", [])
    if "row_id" not in required:
        required.append("row_id")
    return schema


def _inferred(schema: dict[str, Any]) -> dict[str, Any]:
    """What schema inference adds to a discovered schema (as the kit's discovery does): the
    inference flag and a merge reduction with deletion for documents whose `_meta.op` is `d`."""
    schema["x-infer-schema"] = True
    schema["if"] = {
        "required": ["_meta"],
        "properties": {"_meta": {"required": ["op"], "properties": {"op": {"const": "d"}}}},
    }
    schema["then"] = {"reduce": {"strategy": "merge", "delete": True}}
    return schema


@dataclass
class _Resource:
    config: ResourceConfig
    key: list[str]
    schema: dict[str, Any]


# -- Airbyte models -----------------------------------------------------------------------------


def _airbyte_models() -> Any:
    """The Airbyte protocol models of the installed airbyte-cdk (imported on first use)."""
    try:
        from airbyte_protocol import models  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        from airbyte_cdk.models import (  # type: ignore[import-not-found,unused-ignore,no-redef]
            airbyte_protocol as models,
        )
    return models


def _value(enum_or_str: Any) -> Any:
    return getattr(enum_or_str, "value", enum_or_str)


def _as_dict(model: Any) -> dict[str, Any]:
    """An Airbyte model as a JSON-able dict, every field included (the reference's `.dict()`)."""
    for method in ("dict", "model_dump"):
        dump = getattr(model, method, None)
        if callable(dump):
            return dict(dump())
    if dataclasses.is_dataclass(model) and not isinstance(model, type):
        return dataclasses.asdict(model)
    raise TypeError(f"cannot serialize {type(model).__name__}")


def _json_default(obj: Any) -> Any:
    """What orjson cannot write itself, written as pydantic v1's `.json()` writes it."""
    if isinstance(obj, decimal.Decimal):
        return float(obj)
    if isinstance(obj, bytes | bytearray):
        return obj.decode()
    if isinstance(obj, set | frozenset):
        return list(obj)
    if isinstance(obj, timedelta):
        return obj.total_seconds()
    if hasattr(obj, "dict") or hasattr(obj, "model_dump"):
        return _as_dict(obj)
    raise TypeError(f"Type is not JSON serializable: {type(obj).__name__}")


def _dumps(value: Any) -> bytes:
    return orjson.dumps(value, default=_json_default, option=orjson.OPT_NON_STR_KEYS)


def _secret_names(schema: Any, found: set[str] | None = None) -> set[str]:
    """Names of the properties an Airbyte connection specification marks secret."""
    found = set() if found is None else found
    if isinstance(schema, dict):
        for name, sub in (schema.get("properties") or {}).items():
            if isinstance(sub, dict) and (sub.get("airbyte_secret") is True or sub.get("secret") is True):
                found.add(name)
        for value in schema.values():
            if isinstance(value, dict | list):
                _secret_names(value, found)
    elif isinstance(schema, list):
        for value in schema:
            _secret_names(value, found)
    return found


def _register_secrets(config: Any, names: set[str]) -> None:
    if isinstance(config, dict):
        for key, value in config.items():
            if key in names and isinstance(value, str):
                register_secret(value)
            else:
                _register_secrets(value, names)
    elif isinstance(config, list):
        for value in config:
            _register_secrets(value, names)


# -- the read thread and the unit of output ----------------------------------------------------


class _ReadThread:
    """Iterates a blocking iterator on a daemon thread and hands its items to the event loop in
    batches: items for which `gather(item)` holds wait for more, up to `_HAND_OVER` of them, and
    any other item goes over at once with those before it; at most `capacity` hand-overs wait.
    An exception of the iterator is raised to the reader after the items before it."""

    def __init__(
        self,
        make_iterator: Callable[[], Iterable[Any]],
        gather: Callable[[Any], bool],
        capacity: int = _PIPE_CAPACITY,
    ) -> None:
        self._loop = asyncio.get_running_loop()
        self._ready = asyncio.Event()
        self._cond = threading.Condition()
        self._items: deque[list[Any]] = deque()
        self._gather = gather
        self._capacity = capacity
        self._done = False
        self._abandoned = False
        self._error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._run, args=(make_iterator,), name="airbyte-read", daemon=True
        )
        self._thread.start()

    def _wake(self) -> None:
        try:
            self._loop.call_soon_threadsafe(self._ready.set)
        except RuntimeError:
            pass  # The loop is closed: nobody reads any more.

    def _hand_over(self, items: list[Any]) -> bool:
        """Queue `items` for the event loop; False once the reader abandoned us."""
        with self._cond:
            while len(self._items) >= self._capacity and not self._abandoned:
                self._cond.wait()
            if self._abandoned:
                return False
            self._items.append(items)
            first = len(self._items) == 1
        if first:
            self._wake()
        return True

    def _run(self, make_iterator: Callable[[], Iterable[Any]]) -> None:
        try:
            pending: list[Any] = []
            for item in make_iterator():
                pending.append(item)
                if len(pending) < _HAND_OVER and self._gather(item):
                    continue
                if not self._hand_over(pending):
                    return
                pending = []
            if pending:
                self._hand_over(pending)
        except BaseException as exc:
            with self._cond:
                self._error = exc
        finally:
            with self._cond:
                self._done = True
            self._wake()

    def abandon(self) -> None:
        """Stop taking items (the thread ends at its next one)."""
        with self._cond:
            self._abandoned = True
            self._cond.notify_all()

    async def batches(self) -> AsyncIterator[list[Any]]:
        while True:
            await self._ready.wait()
            with self._cond:
                self._ready.clear()
                batch = [item for items in self._items for item in items]
                self._items.clear()
                done, error = self._done, self._error
                self._cond.notify_all()
            if batch:
                yield batch
            if done:
                if error is not None:
                    raise error
                return


class _Unit:
    """Response lines committed together: documents, then the checkpoint that commits them. Held
    in memory up to `_SPILL_AT` bytes, then in a temporary file."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._size = 0
        self._file: IO[bytes] | None = None

    def write(self, line: bytes) -> None:
        if self._file is not None:
            self._file.write(line)
            return
        self._parts.append(line)
        self._size += len(line)
        if self._size > _SPILL_AT:
            self._file = tempfile.TemporaryFile()
            for part in self._parts:
                self._file.write(part)
            self._parts = []

    def take(self) -> bytes | IO[bytes]:
        out: bytes | IO[bytes] = self._file if self._file is not None else b"".join(self._parts)
        self._parts, self._size, self._file = [], 0, None
        return out

    def discard(self) -> None:
        if self._file is not None:
            self._file.close()
        self._parts, self._size, self._file = [], 0, None


# -- requests -----------------------------------------------------------------------------------


_REQUEST_KEYS = ("spec", "discover", "validate", "apply", "open", "acknowledge")


async def _request_objects(_cls: Any) -> AsyncGenerator[dict[str, Any], None]:
    """Every non-blank line of stdin as a JSON object holding one of the request keys."""
    source = LineSource.stdin()
    while True:
        lineno = source.lineno
        line = await source.next_line()
        if line is None:
            return
        if not line.strip():
            continue
        value = load_request_object(line, lineno)
        if not any(isinstance(value.get(key), dict) for key in _REQUEST_KEYS):
            got = ", ".join(sorted(value)) or "none"
            raise MalformedRequestError(
                f"malformed request on line {lineno}: expected one of the keys {', '.join(_REQUEST_KEYS)}; got {got}"
            )
        yield value


def _bindings_of(body: dict[str, Any]) -> list[dict[str, Any]]:
    bindings = body.get("bindings") or []
    if not isinstance(bindings, list) or not all(isinstance(b, dict) for b in bindings):
        raise MalformedRequestError("malformed request: 'bindings' must be a list of objects")
    return bindings


def _binding_name(binding: dict[str, Any], index: int) -> str:
    collection = binding.get("collection")
    name = collection.get("name") if isinstance(collection, dict) else None
    return f"binding {index} ({name})" if name else f"binding {index}"


# -- the connector ------------------------------------------------------------------------------


@dataclass
class CaptureShim(BaseConnector[Any]):
    """A Flow capture connector running the Airbyte source `delegate` (an airbyte-cdk `Source`).

    `oauth2` is published in `spec` (the Flow UI's authorization flow); `schema_inference` marks
    discovered collections for schema inference; `should_emit_sourced_schemas` writes each bound
    stream's schema, closed, as a sourced schema when a capture opens."""

    delegate: Any
    schema_inference: bool
    oauth2: OAuth2Spec | dict[str, Any] | None
    should_emit_sourced_schemas: bool = False
    _secret_keys: set[str] | None = field(default=None, init=False, repr=False)

    @classmethod
    def request_class(cls) -> Any:
        return dict

    async def serve(self, log: FlowLogger | None = None, requests: Any = None) -> None:
        """Serve requests until they end, as `BaseConnector.serve` does; meanwhile `print` and
        anything else written to `sys.stdout` goes to stderr, and only the kit's log handler
        writes log lines (airbyte-cdk installs a root handler writing to stdout on import)."""
        if log is None:
            log = init_logger()
        root = logging.getLogger()
        for handler in list(root.handlers):
            if not getattr(handler, "_flow_handler", False):
                root.removeHandler(handler)
        logging.getLogger("airbyte").setLevel(log.getEffectiveLevel())
        saved, sys.stdout = sys.stdout, sys.stderr
        try:
            await super().serve(log, requests if requests is not None else _request_objects)
        finally:
            sys.stdout = saved

    def _handle_concurrently(self, request: Any) -> bool:
        return isinstance(request, dict) and isinstance(request.get("open"), dict)

    async def handle(self, log: FlowLogger, request: Any) -> None:
        if isinstance(request.get("spec"), dict):
            await self._respond("spec", self._spec(log))
        elif isinstance(request.get("discover"), dict):
            config = self._config(log, request["discover"])
            resources = self._resources(log, config)
            bindings = []
            for resource in resources:
                schema = copy.deepcopy(resource.schema)
                if self.schema_inference:
                    schema = _inferred(schema)
                bindings.append(
                    {
                        "recommendedName": resource.config.stream,
                        "resourceConfig": resource.config.to_json(),
                        "documentSchema": schema,
                        "key": resource.key,
                        "disable": False,
                    }
                )
            await self._respond("discovered", {"bindings": bindings})
        elif isinstance(request.get("validate"), dict):
            await self._respond("validated", self._validate(log, request["validate"]))
        elif isinstance(request.get("apply"), dict):
            await self._respond("applied", {"actionDescription": ""})
        elif isinstance(request.get("open"), dict):
            await self._open(log, request["open"])
            raise Stopped(None)
        # An acknowledgement: this shim never asks for them, so there is nothing to do.

    async def _respond(self, name: str, body: dict[str, Any]) -> None:
        """Write one response as the reference's shim does under pydantic 1 (`.json()`, that is
        `json.dumps` with its default separators and ASCII escapes), so spec, discover and
        validate are byte-identical to it; documents and checkpoints stay compact (orjson)."""
        line = json.dumps({name: body}, default=_json_default)
        self.writer.write(line.encode() + b"\n")
        await self.writer.throttle()

    # -- spec, discover, validate ------------------------------------------------------------

    def _spec(self, log: FlowLogger) -> dict[str, Any]:
        spec = self.delegate.spec(log)
        out: dict[str, Any] = {
            "configSchema": spec.connectionSpecification,
            "resourceConfigSchema": ResourceConfig.model_json_schema(),
        }
        docs = os.environ.get("DOCS_URL") or spec.documentationUrl
        if docs:
            out["documentationUrl"] = str(docs)
        out["resourcePathPointers"] = list(PATH_POINTERS)
        if self.oauth2 is not None:
            out["oauth2"] = _oauth2_json(self.oauth2)
        out["protocol"] = PROTOCOL_VERSION
        return out

    def _config(self, log: FlowLogger, body: dict[str, Any]) -> dict[str, Any]:
        """The request's endpoint config, its secret values (per the source's spec) registered
        for redaction from the logs."""
        config = body.get("config")
        if not isinstance(config, dict):
            raise ValidationError(["the endpoint config must be an object"])
        if self._secret_keys is None:
            try:
                self._secret_keys = _secret_names(self.delegate.spec(log).connectionSpecification)
            except Exception as exc:  # Redaction is a courtesy: never fail a request for it.
                log.debug("cannot read the source's spec for its secret fields", {"error": str(exc)})
                self._secret_keys = set()
        _register_secrets(config, self._secret_keys)
        return config

    def _resources(self, log: FlowLogger, config: dict[str, Any]) -> list[_Resource]:
        """The source's streams, as the resources bindings are resolved against."""
        catalog = self.delegate.discover(log, config)
        resources: list[_Resource] = []
        for stream in catalog.streams:
            modes = [_value(m) for m in stream.supported_sync_modes or []]
            if "incremental" in modes:
                mode = "incremental"
            elif "full_refresh" in modes:
                mode = "full_refresh"
            else:
                raise ConnectorError(
                    f"Airbyte stream {stream.name!r} supports no sync mode the shim knows: {modes}"
                )
            config_ = ResourceConfig(
                stream=stream.name,
                sync_mode=mode,
                namespace=stream.namespace or None,
                cursor_field=list(stream.default_cursor_field) if stream.default_cursor_field else None,
            )
            if stream.source_defined_primary_key:
                key = ["/" + k for k in transform_airbyte_key(stream.source_defined_primary_key)]
            elif mode == "full_refresh":
                key = [ROW_ID_KEY]  # The record's position within each refresh.
            else:
                raise ConnectorError(
                    f"incremental Airbyte stream {stream.name!r} has no source-defined primary key"
                )
            resources.append(_Resource(config_, key, _with_row_id(stream.json_schema)))
        return resources

    @staticmethod
    def _resolve(
        bindings: list[dict[str, Any]], resources: list[_Resource]
    ) -> list[tuple[dict[str, Any], ResourceConfig, _Resource]]:
        """Each binding with its parsed resource config and the discovered resource at its path;
        `ValidationError` naming every binding that is malformed or not found."""
        by_path = {tuple(r.config.path()): r for r in resources}
        resolved: list[tuple[dict[str, Any], ResourceConfig, _Resource]] = []
        errors: list[str] = []
        for index, binding in enumerate(bindings):
            try:
                config = ResourceConfig.from_json(
                    binding.get("resourceConfig"), _binding_name(binding, index)
                )
            except ValidationError as exc:
                errors.extend(exc.errors)
                continue
            resource = by_path.get(tuple(config.path()))
            if resource is None:
                errors.append(f"Resource '{'.'.join(config.path())}' was not found.")
                continue
            resolved.append((binding, config, resource))
        if errors:
            raise ValidationError(errors)
        return resolved

    def _validate(self, log: FlowLogger, body: dict[str, Any]) -> dict[str, Any]:
        config = self._config(log, body)
        result = self.delegate.check(log, config)
        if _value(result.status) != "SUCCEEDED":
            raise ValidationError([str(result.message) if result.message else "the connection check failed"])
        resolved = self._resolve(_bindings_of(body), self._resources(log, config))
        return {"bindings": [{"resourcePath": config_.path()} for _, config_, _ in resolved]}

    # -- open ----------------------------------------------------------------------------------

    async def _open(self, log: FlowLogger, body: dict[str, Any]) -> None:
        capture = body.get("capture")
        if not isinstance(capture, dict):
            raise MalformedRequestError("malformed request: 'open' needs a 'capture'")
        config = self._config(log, capture)
        resolved = self._resolve(_bindings_of(capture), self._resources(log, config))
        states = _binding_states(body.get("state"))

        models = _airbyte_models()
        streams = []
        # (namespace, stream) -> (binding index, its state entry)
        index: dict[tuple[str | None, str], tuple[int, dict[str, Any]]] = {}
        for i, (binding, config_, _) in enumerate(resolved):
            collection = binding.get("collection")
            write_schema = collection.get("writeSchema") if isinstance(collection, dict) else None
            streams.append(
                models.ConfiguredAirbyteStream(
                    stream=models.AirbyteStream(
                        json_schema=write_schema or {},
                        name=config_.stream,
                        namespace=config_.namespace,
                        supported_sync_modes=[config_.sync_mode],
                    ),
                    cursor_field=config_.cursor_field,
                    destination_sync_mode="append",
                    sync_mode=config_.sync_mode,
                )
            )
            state_key = binding.get("stateKey") or ".".join(config_.path())
            entry = states.setdefault(state_key, {"rowId": 0})
            index[(config_.namespace, config_.stream)] = (i, entry)
        catalog = models.ConfiguredAirbyteCatalog(streams=streams)
        airbyte_states = [
            models.AirbyteStateMessage(**entry["state"]) for _, entry in index.values() if entry.get("state")
        ]
        state_doc = {"bindingStateV1": states}

        await self._respond("opened", {"explicitAcknowledgements": False})
        log.event.status("Capture started." if resolved else "Capture started. No bindings are enabled.")

        task_log = log.getChild("capture").getChild("airbyte_shim")
        if self.should_emit_sourced_schemas:
            for i, (_, _, resource) in enumerate(resolved):
                schema = copy.deepcopy(resource.schema)
                schema.pop("$id", None)
                unit = _dumps(
                    {"sourcedSchema": {"binding": i, "schema_json": set_additional_properties_false(schema)}}
                )
                self.writer.write(unit + b'\n{"checkpoint":{"state":{"updated":{},"mergePatch":true}}}\n')
                await self.writer.throttle()

        await self._read(task_log, config, catalog, airbyte_states, index, state_doc)

    async def _read(
        self,
        log: FlowLogger,
        config: dict[str, Any],
        catalog: Any,
        airbyte_states: list[Any],
        index: dict[tuple[str | None, str], tuple[int, dict[str, Any]]],
        state_doc: dict[str, Any],
    ) -> None:
        deadline = time.monotonic() + _restart_interval().total_seconds()
        reader = _ReadThread(
            lambda: self.delegate.read(log, config, catalog, airbyte_states),
            gather=lambda message: getattr(message, "record", None) is not None,
        )
        unit = _Unit()
        try:
            async for batch in reader.batches():
                for message in batch:
                    if self._on_message(log, message, index, unit):
                        unit.write(_checkpoint_line(state_doc))
                        self.writer.write(unit.take())
                        await self.writer.throttle()
                if time.monotonic() >= deadline:
                    log.info("Airbyte shim is yielding to stop.")
                    reader.abandon()
                    unit.discard()
                    return
        except Exception as exc:
            unit.discard()
            message = getattr(exc, "message", None)
            if isinstance(message, str) and message:
                # An AirbyteTracedException: its message is the one meant for the user.
                log.error("the Airbyte source failed", exc_info=exc)
                raise ConnectorError(message) from exc
            raise
        log.info("Emitting final checkpoint for sweep.")
        unit.write(_checkpoint_line(state_doc))
        self.writer.write(unit.take())
        await self.writer.throttle()

    def _on_message(
        self,
        log: FlowLogger,
        message: Any,
        index: dict[tuple[str | None, str], tuple[int, dict[str, Any]]],
        unit: _Unit,
    ) -> bool:
        """Handle one Airbyte message; True when the state changed and a checkpoint is due."""
        if (record := getattr(message, "record", None)) is not None:
            entry = index.get((record.namespace, record.stream))
            if entry is None:
                log.warning(
                    f"Document read in unrecognized stream {record.stream} (namespace: {record.namespace})"
                )
                return False
            binding, state = entry
            doc = {"_meta": {"op": "u", "row_id": state["rowId"]}}
            doc.update((k, v) for k, v in record.data.items() if k != "_meta")
            state["rowId"] += 1
            unit.write(_dumps({"captured": {"binding": binding, "doc": doc}}) + b"\n")
            return False
        if (state_msg := getattr(message, "state", None)) is not None:
            if _value(state_msg.type) != "STREAM":
                raise ConnectorError(f"Unsupported Airbyte state type {_value(state_msg.type)}")
            if state_msg.stream is None:
                raise ConnectorError("Got a STREAM-specific state message with no stream-specific state")
            descriptor = state_msg.stream.stream_descriptor
            entry = index.get((descriptor.namespace, descriptor.name))
            if entry is None:
                log.warning(
                    f"Received state message for unrecognized stream {descriptor.name} (namespace: {descriptor.namespace})"
                )
                return False
            entry[1]["state"] = orjson.loads(_dumps(_as_dict(state_msg)))
            return True
        if (trace := getattr(message, "trace", None)) is not None:
            _log_trace(log, trace)
            return False
        if (airbyte_log := getattr(message, "log", None)) is not None:
            level = _LOG_LEVELS.get(str(_value(airbyte_log.level)), logging.INFO)
            extra = {"stack_trace": airbyte_log.stack_trace} if airbyte_log.stack_trace else None
            log.log(level, airbyte_log.message, extra=extra)
            return False
        raise ConnectorError(f"unexpected Airbyte message of type {_value(getattr(message, 'type', None))}")


def _log_trace(log: FlowLogger, trace: Any) -> None:
    if (error := trace.error) is not None:
        log.error(
            error.message,
            extra={"internal_message": error.internal_message, "stack_trace": error.stack_trace},
        )
    elif (estimate := trace.estimate) is not None:
        log.info(
            "progress estimate",
            extra={
                "estimate": {
                    "stream": estimate.name,
                    "namespace": estimate.namespace,
                    "type": _value(estimate.type),
                    "row_estimate": estimate.row_estimate,
                    "byte_estimate": estimate.byte_estimate,
                }
            },
        )
    elif (status := trace.stream_status) is not None:
        log.info(
            "stream status",
            extra={
                "status": {
                    "stream": status.stream_descriptor.name,
                    "namespace": status.stream_descriptor.namespace,
                    "status": _value(status.status),
                }
            },
        )
    else:
        log.debug("Airbyte trace", {"type": _value(getattr(trace, "type", None))})


def _checkpoint_line(state_doc: dict[str, Any]) -> bytes:
    return _dumps({"checkpoint": {"state": {"updated": state_doc, "mergePatch": False}}}) + b"\n"


def _binding_states(state: Any) -> dict[str, dict[str, Any]]:
    """`bindingStateV1` of an `open` request's state, checked: each entry holds an integer
    `rowId` and optionally the Airbyte `state` object. Other top-level keys are dropped (the
    first checkpoint replaces the state), and so are null entries."""
    if state is None:
        return {}
    if not isinstance(state, dict):
        raise MalformedRequestError("malformed request: the open state must be an object")
    found = state.get("bindingStateV1") or {}
    if not isinstance(found, dict):
        raise MalformedRequestError("malformed request: state.bindingStateV1 must be an object")
    out: dict[str, dict[str, Any]] = {}
    for key, entry in found.items():
        if entry is None:
            continue
        where = f"state.bindingStateV1[{key!r}]"
        if not isinstance(entry, dict):
            raise MalformedRequestError(f"malformed request: {where} must be an object")
        if not isinstance(entry.get("rowId"), int) or isinstance(entry.get("rowId"), bool):
            raise MalformedRequestError(f"malformed request: {where}.rowId must be an integer")
        if not isinstance(entry.get("state", {}), dict):
            raise MalformedRequestError(f"malformed request: {where}.state must be an object")
        unknown = sorted(set(entry) - {"rowId", "state"})
        if unknown:
            raise MalformedRequestError(
                f"malformed request: {where} has unknown field(s) {', '.join(unknown)}"
            )
        out[key] = entry
    return out


def _restart_interval() -> timedelta:
    """How long a capture reads before it stops so the runtime restarts it (24 h, or
    `ESTUARY_CDK_PERIODIC_RESTART_SECONDS` as for every capture of the kit)."""
    env = os.environ.get(_RESTART_ENV)
    if env:
        try:
            return timedelta(seconds=float(env))
        except ValueError:
            raise ValueError(f"{_RESTART_ENV} must be a number of seconds, got {env!r}") from None
    return _RESTART_INTERVAL


def _oauth2_json(spec: Any) -> dict[str, Any]:
    """`spec.oauth2` as the protocol has it, from an `OAuth2Spec` under pydantic 1 or 2, or a plain
    dict: the kit-internal `additionalTokenExchangeBody` left out, and so is every field at its
    proto3 default (source-asana's `accessTokenBody=""`, source-google-ads' `accessTokenHeaders={}`),
    as in those connectors' committed spec snapshots."""
    if isinstance(spec, dict):
        out = dict(spec)
    elif hasattr(type(spec), "model_fields"):
        out = spec.model_dump(by_alias=True)
    else:
        out = spec.dict(by_alias=True)
    out.pop("additionalTokenExchangeBody", None)
    return {key: value for key, value in out.items() if value not in (None, "", {}, [])}
