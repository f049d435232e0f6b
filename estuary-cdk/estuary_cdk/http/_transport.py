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


def fault_name(exc: BaseException) -> str:
    """What went wrong, in words: "connection refused", "the connection was reset", ..."""
    if isinstance(exc, WaitExpired):
        return str(exc)
    if isinstance(exc, ResponseBodyError) and isinstance(exc.__cause__, BaseException):
        return fault_name(exc.__cause__)
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return "the host name could not be resolved"
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return "the server's TLS certificate was not accepted"
    if isinstance(exc, aiohttp.ClientSSLError):
        return "the TLS handshake failed"
    if isinstance(exc, aiohttp.ClientConnectorError):
        os_error = exc.os_error
        if isinstance(os_error, ConnectionRefusedError) or os_error.errno == errno.ECONNREFUSED:
            return "connection refused"
        return "the connection could not be established"
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return "connecting timed out"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "the server closed the connection without a response"
    if isinstance(exc, aiohttp.ClientPayloadError):
        return "the response body was cut short"
    if isinstance(exc, ConnectionResetError) or getattr(exc, "errno", None) == errno.ECONNRESET:
        return "the connection was reset"
    if isinstance(exc, TimeoutError):
        return "timed out"
    return "the connection failed"


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
