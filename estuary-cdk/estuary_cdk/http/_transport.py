"""Failures on the wire (connecting, sending, reading a body): which ones another attempt can
fix, and what to call each one in a message a user reads."""

from __future__ import annotations

import errno

from ._aiohttp import aiohttp
from ._errors import ResponseBodyError

_body_read_errors: tuple[type[BaseException], ...] = ()


class WaitExpired(TimeoutError):
    """A deadline of the kit's own (`HTTPLimits`) passed while waiting on the server; the
    message says which wait, how long it lasted and what had arrived."""


def body_read_errors() -> tuple[type[BaseException], ...]:
    """Transient transport failures: re-sending the request may succeed. Built on first use,
    once aiohttp is loaded. (A TLS failure is a `ClientConnectionError` too, but never
    transient: see `is_transient`.)"""
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


def is_transient(exc: BaseException) -> bool:
    """Whether another attempt may succeed where `exc` ended this one."""
    if isinstance(exc, aiohttp.ClientSSLError):
        return False  # A certificate or TLS setup problem: trying again changes nothing.
    return isinstance(exc, body_read_errors())


_fault_names: tuple[tuple[type[BaseException], str], ...] = ()


def _names() -> tuple[tuple[type[BaseException], str], ...]:
    # Most specific first (aiohttp's classes subclass one another). Built once aiohttp is loaded.
    global _fault_names
    if not _fault_names:
        _fault_names = (
            (aiohttp.ClientConnectorDNSError, "the host name could not be resolved"),
            (aiohttp.ClientConnectorCertificateError, "the server's TLS certificate was not accepted"),
            (aiohttp.ClientSSLError, "the TLS handshake failed"),
            (ConnectionRefusedError, "connection refused"),
            (aiohttp.ClientConnectorError, "the connection could not be established"),
            (aiohttp.ConnectionTimeoutError, "connecting timed out"),
            (aiohttp.ServerDisconnectedError, "the server closed the connection without a response"),
            (aiohttp.ClientPayloadError, "the response body was cut short"),
            (ConnectionResetError, "the connection was reset"),
            (TimeoutError, "timed out"),
        )
    return _fault_names


def fault_name(exc: BaseException) -> str:
    """What went wrong, in words: "connection refused", "the connection was reset", ..."""
    if isinstance(exc, WaitExpired):
        return str(exc)
    if isinstance(exc, ResponseBodyError) and isinstance(exc.__cause__, BaseException):
        return fault_name(exc.__cause__)
    if isinstance(exc, aiohttp.ClientConnectorError) and exc.os_error.errno == errno.ECONNREFUSED:
        return "connection refused"
    if getattr(exc, "errno", None) == errno.ECONNRESET:
        return "the connection was reset"
    return next((name for kind, name in _names() if isinstance(exc, kind)), "the connection failed")


def describe(exc: BaseException) -> str:
    """`Type: message` of an exception (just the type when it has no message)."""
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def describe_fault(exc: BaseException) -> str:
    """The fault and the underlying error: "connection refused (ClientConnectorError: ...)". A
    deadline of the kit's own is already complete in its message."""
    if isinstance(exc, WaitExpired):
        return str(exc)
    return f"{fault_name(exc)} ({describe(exc)})"
