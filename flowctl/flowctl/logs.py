"""Decoding of connector stderr into ops logs (flow-protocol §1.6) and rendering for the user.

The decoder is permissive like the runtime's: JSON objects with any of the usual key aliases,
plain-text lines (folded together until the next JSON line, so tracebacks stay one message)."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TextIO

import orjson

_ERRORISH = re.compile(r"(?i)error|failed|panic|timeout|unable|unrecognised|unrecognized")
_LEVELS = {
    "trace": "trace",
    "debug": "debug",
    "info": "info",
    "warn": "warn",
    "warning": "warn",
    "error": "error",
    "err": "error",
    "fatal": "error",
    "panic": "error",
    "critical": "error",
}
_LEVEL_ORDER = {"trace": 0, "debug": 1, "info": 2, "warn": 3, "error": 4}


@dataclass
class OpsLog:
    """A decoded log line in the runtime's canonical shape."""

    ts: str
    level: str
    message: str
    fields: dict[str, Any] = field(default_factory=dict)
    # flowctl's own lines: the message says it all, fields are for --log-json readers only
    plain: bool = field(default=False, compare=False)

    def canonical(self) -> bytes:
        """The canonical ops::Log JSON (what `--log-json` prints)."""
        out: dict[str, Any] = {"ts": self.ts, "level": self.level, "message": self.message}
        if self.fields:
            out["fields"] = self.fields
        return orjson.dumps(out)

    @property
    def event_type(self) -> str | None:
        value = self.fields.get("eventType")
        return value if isinstance(value, str) else None


def timestamp() -> str:
    """Now, as log lines carry it (RFC 3339, UTC)."""
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _level_of(value: Any, text: str) -> str:
    if isinstance(value, str):
        mapped = _LEVELS.get(value.strip().lower())
        if mapped:
            return mapped
    return "error" if _ERRORISH.search(text) else "warn"


def decode_json_log(obj: dict[str, Any], raw: str) -> OpsLog:
    """Map one JSON log object onto an OpsLog, applying the runtime's key aliases."""
    fields: dict[str, Any] = {}
    nested = obj.get("fields")
    if isinstance(nested, dict):
        fields.update(nested)
    ts: Any = None
    level: Any = None
    message: Any = None
    for key, value in obj.items():
        if key in ("ts", "timestamp", "time"):
            ts = ts or value
        elif key in ("level", "lvl"):
            level = level or value
        elif key in ("message", "msg"):
            message = message if message is not None else value
        elif key in ("fields", "shard", "spans"):
            continue
        else:
            fields[key] = value
    if message is None:
        for alias in ("message", "msg"):
            if alias in fields:
                message = fields.pop(alias)
                break
    text = (
        message if isinstance(message, str) else ("" if message is None else orjson.dumps(message).decode())
    )
    return OpsLog(
        ts=ts if isinstance(ts, str) else timestamp(),
        level=_level_of(level, raw),
        message=text,
        fields=fields,
    )


class LogDecoder:
    """Feeds stderr lines, calls `emit` with each decoded OpsLog. Keeps the last message, which
    becomes the task error when the connector fails."""

    def __init__(self, emit: Callable[[OpsLog], None]) -> None:
        self._emit = emit
        self._text: list[str] = []
        self.last: OpsLog | None = None
        self.last_error: OpsLog | None = None

    def feed(self, line: str) -> None:
        line = line.rstrip("\r\n")
        stripped = line.strip()
        if stripped.startswith("{"):
            try:
                obj = orjson.loads(stripped)
            except orjson.JSONDecodeError:
                obj = None
            if isinstance(obj, dict):
                self.flush()
                self._publish(decode_json_log(obj, stripped))
                return
        if not stripped and not self._text:
            return
        self._text.append(line)

    def flush(self) -> None:
        """Publish folded plain-text lines as one log."""
        if not self._text:
            return
        text = "\n".join(self._text).strip("\n")
        self._text = []
        self._publish(OpsLog(ts=timestamp(), level=_level_of(None, text), message=text))

    def _publish(self, log: OpsLog) -> None:
        self.last = log
        if log.level == "error":
            self.last_error = log
        self._emit(log)


# Fields holding text of many lines (the kit logs exceptions as `traceback`, a list of lines).
_MULTILINE_FIELDS = ("traceback", "stack", "exception", "exc_info")


def _text_lines(value: Any) -> list[str]:
    """The lines of a multi-line text field (a list of strings, or one string with newlines);
    empty for anything else, which then renders as `k=v`."""
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return [line for part in value for line in part.rstrip("\n").split("\n")]
    if isinstance(value, str) and "\n" in value.strip():
        return value.rstrip("\n").split("\n")
    return []


def _format_value(value: Any) -> str:
    if isinstance(value, str):
        return value if value and " " not in value and '"' not in value else orjson.dumps(value).decode()
    return orjson.dumps(value).decode()


class LogPrinter:
    """Writes logs to the user: readable text by default, canonical JSON with `--log-json`."""

    def __init__(self, as_json: bool, stream: TextIO | None = None, min_level: str = "trace") -> None:
        self.as_json = as_json
        self.stream = stream if stream is not None else sys.stderr
        self.min_level = _LEVEL_ORDER.get(min_level, 0)

    def __call__(self, log: OpsLog) -> None:
        if _LEVEL_ORDER.get(log.level, 4) < self.min_level:
            return
        if self.as_json:
            self.stream.write(log.canonical().decode() + "\n")
        else:
            self.stream.write(self.render(log) + "\n")
        self.stream.flush()

    @staticmethod
    def render(log: OpsLog) -> str:
        """`<ts> LEVEL message  k=v ...`; connectorStatus events are marked `STATUS`."""
        if log.plain:
            return f"{log.ts} {log.level.upper():<6} {log.message}"
        fields = dict(log.fields)
        label = log.level.upper()
        if log.event_type == "connectorStatus":
            label = "STATUS"
            fields.pop("eventType", None)
        elif log.event_type == "configUpdate":
            label = "CONFIG"
            fields.pop("eventType", None)
            if "config" in fields:
                fields["config"] = "<updated endpoint config>"
        blocks = []
        for name in _MULTILINE_FIELDS:
            lines = _text_lines(fields.get(name))
            if lines:
                blocks.append(lines)
                del fields[name]
        rendered = " ".join(f"{k}={_format_value(v)}" for k, v in fields.items())
        head = f"{log.ts} {label:<6} {log.message}"
        head = f"{head}  {rendered}" if rendered else head
        # A traceback reads as the interpreter printed it, not as one JSON array on the line.
        return "\n".join([head, *("    " + line for block in blocks for line in block)])
