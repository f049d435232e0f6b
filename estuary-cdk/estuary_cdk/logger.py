"""Structured JSON logging on stderr, in the shape the Flow runtime decodes.

Every record becomes one line `{"level","msg","fields":{...,"source","file"}}`: the runtime
parses each line, so a traceback stays inside it, as the list `fields.traceback`. For a person
reading stderr directly, `LOG_FORMAT=text` (or `color`, with ANSI colors) writes
`time LEVEL source: message {fields}` instead, and a traceback as the lines the interpreter
prints; anything else (Flow sets `json`) keeps the JSON lines. Strings registered with
`register_secret` (the kit's one secret registry, `estuary_cdk._secrets`, re-exported here) are
replaced by `[redacted]` in every line of either format, whatever the call site logged.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any, cast

import orjson
from pydantic import BaseModel

from ._pydantic_major import PYDANTIC_V1
from ._secrets import (
    MIN_SECRET_LENGTH,
    REDACTED,
    redact,
    register_secret,
    register_secrets_in,
    registered_secrets,
)

__all__ = [
    "MIN_SECRET_LENGTH",
    "OBSERVABLE_FIELD",
    "REDACTED",
    "EventLogger",
    "FlowLogger",
    "LogFormatter",
    "OpsLog",
    "TextLogFormatter",
    "init_logger",
    "register_secret",
    "register_secrets_in",
]

OBSERVABLE_FIELD = "observable"
"""Set `extra={OBSERVABLE_FIELD: True}` on lines that are aggregated fleet-wide."""

# Attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD_ATTRS = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys() | {"message", "asctime", "taskName"}
)

# Flow passes lowercase level names that Python's logging does not all know.
_LEVEL_ALIASES = {"TRACE": "DEBUG", "WARN": "WARNING", "FATAL": "CRITICAL", "PANIC": "CRITICAL"}


class OpsLog(BaseModel):
    """The shape of one log line (documentation and tests; the formatter builds it directly)."""

    level: str
    msg: str
    fields: dict[str, Any]


def _redact(value: Any) -> Any:
    """`value` (a JSON-able structure) with registered secrets redacted from every string."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(v) for v in value]
    return value


def _jsonable_v1(value: Any, by_alias: bool = True) -> Any:
    """`to_jsonable_python` for pydantic v1, where only the Airbyte shim runs
    (`estuary_cdk.shim_airbyte_cdk`): pydantic's v1 encoder for what orjson cannot encode
    (models, timedeltas as seconds, sets, decimals). Raises on anything else, like its v2
    counterpart."""
    from pydantic.json import pydantic_encoder  # type: ignore[attr-defined,unused-ignore]

    def default(obj: Any) -> Any:
        if isinstance(obj, BaseModel):
            return obj.dict(by_alias=by_alias)  # type: ignore[deprecated,unused-ignore]
        return pydantic_encoder(obj)

    return orjson.loads(orjson.dumps(value, default=default, option=orjson.OPT_NON_STR_KEYS))


# Decided once, at import: the kit's capture and materialize paths run on pydantic v2 only; the
# Airbyte shim's connectors lock pydantic 1.10, and the modules they import (this one among them)
# must load there too, without a per-call check on the v2 path.
_to_jsonable: Callable[..., Any]
if PYDANTIC_V1:
    _to_jsonable = _jsonable_v1
else:
    from pydantic_core import to_jsonable_python

    _to_jsonable = to_jsonable_python


def _jsonable(value: Any) -> Any:
    try:
        return _to_jsonable(value, by_alias=True)
    except Exception:
        return repr(value)


def _message_and_fields(record: logging.LogRecord) -> tuple[str, dict[str, Any]]:
    """A record's message and its fields (JSON-able, secrets redacted), as both formats show them."""
    try:
        msg = record.getMessage()
    except Exception:
        msg = str(record.msg)

    fields: dict[str, Any] = {}
    for key, value in record.__dict__.items():
        if key not in _STANDARD_ATTRS:
            fields[key] = value
    if record.args:
        fields["args"] = record.args
    fields["source"] = record.name
    fields["file"] = f"{record.pathname}:{record.lineno}"
    if record.exc_info and record.exc_info[1] is not None:
        text = "".join(traceback.format_exception(*record.exc_info))
        fields["traceback"] = text.rstrip("\n").split("\n")
    elif record.stack_info:
        fields["stack"] = record.stack_info.split("\n")

    fields = _jsonable(fields)
    if registered_secrets():
        msg = redact(msg)
        fields = _redact(fields)
    return msg, fields


class LogFormatter(logging.Formatter):
    """One JSON line per record: what the runtime parses (`LOG_FORMAT=json`, the default)."""

    def format(self, record: logging.LogRecord) -> str:
        msg, fields = _message_and_fields(record)
        return orjson.dumps({"level": record.levelname, "msg": msg, "fields": fields}).decode()


_COLORS = {"DEBUG": "\x1b[2m", "INFO": "\x1b[32m", "WARNING": "\x1b[33m", "ERROR": "\x1b[31m"}
_BOLD_RED, _DIM, _RESET = "\x1b[1;31m", "\x1b[2m", "\x1b[0m"
# Fields the text line shows in front (source) or leaves out (the call site: noise for people).
_SHOWN_APART = ("source", "file", "traceback", "stack")


class TextLogFormatter(logging.Formatter):
    """Lines for people (`LOG_FORMAT=text`, or `color`):

        2025-01-01T12:00:00.123Z WARNING flow.capture.items: the message {"args":{"n":2}}
        Traceback (most recent call last):
          File "...", line 20, in fetch
        ZeroDivisionError: division by zero

    The traceback (or stack) follows as the interpreter prints it, one line per line, rather
    than as the JSON list the runtime gets."""

    def __init__(self, color: bool = False) -> None:
        super().__init__()
        self.color = color

    def format(self, record: logging.LogRecord) -> str:
        msg, fields = _message_and_fields(record)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        stamp += f".{int(record.msecs):03d}Z"
        level = record.levelname
        rest = {k: v for k, v in fields.items() if k not in _SHOWN_APART}
        tail = f" {orjson.dumps(rest).decode()}" if rest else ""
        trace: list[str] = fields.get("traceback") or fields.get("stack") or []
        if self.color:
            color = _BOLD_RED if record.levelno >= logging.CRITICAL else _COLORS.get(level, "")
            level = f"{color}{level}{_RESET}" if color else level
            tail = f"{_DIM}{tail}{_RESET}" if tail else ""
        lines = [f"{stamp} {level} {fields['source']}: {msg}{tail}", *trace]
        return "\n".join(lines)


class EventLogger:
    """Log lines the runtime treats as events, recognised by `fields.eventType`."""

    def __init__(self, log: logging.Logger) -> None:
        self._log = log

    def status(self, msg: str) -> None:
        """A user-visible status line for the task (`connectorStatus`)."""
        self._log.info(msg, extra={"eventType": "connectorStatus"}, stacklevel=2)

    def config_update(self, msg: str, config: dict[str, Any]) -> None:
        """Ask the control plane to republish the task with `config`, the complete (encrypted)
        replacement endpoint config (`configUpdate`)."""
        self._log.info(msg, extra={"eventType": "configUpdate", "config": config}, stacklevel=2)


class FlowLogger(logging.Logger):
    event: EventLogger

    def __init__(self, name: str, level: int | str = logging.NOTSET) -> None:
        super().__init__(name, level)
        self.event = EventLogger(self)

    def getChild(self, suffix: str) -> FlowLogger:
        child: logging.Logger = super().getChild(suffix)
        if not isinstance(child, FlowLogger):
            # Created before FlowLogger was installed as the logger class: give it events anyway.
            setattr(child, "event", EventLogger(child))  # noqa: B010
        return cast(FlowLogger, child)


def _level_from_env() -> int:
    name = os.environ.get("LOG_LEVEL", "INFO").strip().upper() or "INFO"
    name = _LEVEL_ALIASES.get(name, name)
    level = logging.getLevelName(name)
    return level if isinstance(level, int) else logging.INFO


def _formatter_from_env() -> logging.Formatter:
    """JSON lines unless `LOG_FORMAT` asks for `text` or `color` (Flow's names for them)."""
    name = os.environ.get("LOG_FORMAT", "").strip().lower()
    if name in ("text", "color"):
        return TextLogFormatter(color=name == "color")
    return LogFormatter()


_init_lock = threading.Lock()


def init_logger() -> FlowLogger:
    """Configure the root logger to write to stderr (JSON lines, or text per `LOG_FORMAT`) and
    return the `flow` logger, whose level comes from `LOG_LEVEL` (Flow's lowercase names such as
    `warn`/`trace` work)."""
    with _init_lock:
        logging.setLoggerClass(FlowLogger)
        root = logging.getLogger()
        handler = next((h for h in root.handlers if getattr(h, "_flow_handler", False)), None)
        if handler is None:
            handler = logging.StreamHandler(sys.stderr)
            handler._flow_handler = True  # type: ignore[attr-defined]
            root.addHandler(handler)
        handler.setFormatter(_formatter_from_env())
        log = logging.getLogger("flow")
        if not isinstance(log, FlowLogger):
            setattr(log, "event", EventLogger(log))  # noqa: B010
        log.setLevel(_level_from_env())
        return cast(FlowLogger, log)


logging.setLoggerClass(FlowLogger)
