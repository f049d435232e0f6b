"""Structured JSON logging on stderr, in the shape the Flow runtime decodes.

Every record becomes one line `{"level","msg","fields":{...,"source","file"}}`. Strings registered
with `register_secret` (the kit's one secret registry, `estuary_cdk._secrets`, re-exported here)
are replaced by `[redacted]` in every line, whatever the call site logged.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import traceback
from typing import Any, cast

import orjson
from pydantic import BaseModel
from pydantic_core import to_jsonable_python

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


def _jsonable(value: Any) -> Any:
    try:
        return to_jsonable_python(value, by_alias=True)
    except Exception:
        return repr(value)


class LogFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
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
        return orjson.dumps({"level": record.levelname, "msg": msg, "fields": fields}).decode()


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


_init_lock = threading.Lock()


def init_logger() -> FlowLogger:
    """Configure the root logger to write JSON lines to stderr and return the `flow` logger,
    whose level comes from `LOG_LEVEL` (Flow's lowercase names such as `warn`/`trace` work)."""
    with _init_lock:
        logging.setLoggerClass(FlowLogger)
        root = logging.getLogger()
        if not any(getattr(h, "_flow_handler", False) for h in root.handlers):
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(LogFormatter())
            handler._flow_handler = True  # type: ignore[attr-defined]
            root.addHandler(handler)
        log = logging.getLogger("flow")
        if not isinstance(log, FlowLogger):
            setattr(log, "event", EventLogger(log))  # noqa: B010
        log.setLevel(_level_from_env())
        return cast(FlowLogger, log)


logging.setLoggerClass(FlowLogger)
