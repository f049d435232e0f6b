"""The process framework's errors: what ends a connector, and how its last line reads."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ConnectorError", "MalformedRequestError", "Stopped"]


class ConnectorError(Exception):
    """An error whose message is the complete, user-facing reason: it is logged as the last
    ERROR line without a traceback."""


class MalformedRequestError(ConnectorError):
    """A request line that is not valid JSON or not a valid request. The message is one line
    that says what was wrong and where."""


@dataclass
class Stopped(Exception):
    """Raised by a handler to end the process: cleanly when `error` is None, else with `error`
    as the failure reason."""

    error: str | None = None
