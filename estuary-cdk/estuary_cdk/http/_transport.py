"""Failures on the wire (connecting, sending, reading a body) that another attempt can fix."""

from __future__ import annotations

from ._aiohttp import aiohttp
from ._errors import ResponseBodyError

_body_read_errors: tuple[type[BaseException], ...] = ()


def body_read_errors() -> tuple[type[BaseException], ...]:
    """Transient transport failures: re-sending the request may succeed. Built on first use,
    once aiohttp is loaded."""
    global _body_read_errors
    if not _body_read_errors:
        _body_read_errors = (
            TimeoutError,
            aiohttp.ClientPayloadError,
            aiohttp.ServerDisconnectedError,
            aiohttp.ClientOSError,
            aiohttp.ClientConnectionError,
            ConnectionResetError,
            ResponseBodyError,
        )
    return _body_read_errors


def describe(exc: BaseException) -> str:
    """`Type: message` of an exception (just the type when it has no message)."""
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
