"""Typed errors of the HTTP layer."""

from __future__ import annotations

from multidict import CIMultiDictProxy

Headers = CIMultiDictProxy[str]

BODY_EXCERPT_CHARS = 1000


class HTTPError(RuntimeError):
    """A request that failed for good: a non-retryable status, or retries that ran out.

    `code` is the HTTP status (0 when no response was received at all, see
    `HTTPConnectionError`), `message` the full text (URL scrubbed of secrets, status, content type
    and a short excerpt of the body), `body` the response body as received (not redacted: for
    code that inspects the API's error, never for display), `url` the scrubbed URL and `headers`
    the response headers.
    """

    def __init__(
        self,
        message: str,
        code: int,
        body: bytes = b"",
        *,
        url: str | None = None,
        headers: Headers | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.body = body
        self.url = url
        self.headers = headers

    def __str__(self) -> str:
        return self.message


class HTTPConnectionError(HTTPError):
    """Connecting, sending or reading the body kept failing (resets, timeouts, truncated bodies)
    until the retry budget ran out. `code` is 0; the original error is the `__cause__`."""


class HostNotFoundError(HTTPConnectionError):
    """The request's host name did not resolve while answering a request a user waits on
    (`validate`, `discover`): reported at once, naming the host, rather than retried, since a
    name that does not resolve there is almost always a mistyped one. (During a capture the same
    fault is retried as transient.) `host` is the name; the resolver's error is the `__cause__`."""

    def __init__(self, message: str, *, host: str, url: str | None = None) -> None:
        super().__init__(message, 0, url=url)
        self.host = host


class ResponseBodyError(HTTPConnectionError):
    """A streamed response body (`request_stream`/`request_lines`) broke off mid-way: a reset,
    a truncated body or a read timeout. Not retried automatically, as part of the body was
    already consumed; the original error is the `__cause__`."""


class ResponseTooLargeError(HTTPError):
    """A response body too large to read whole under the session's `HTTPLimits`: longer than
    `max_body_bytes` (after decompression), or decompressing to more than
    `max_compression_ratio` times its compressed size. Not retried (the next attempt would get
    the same body); `request_stream`/`request_lines` read such a body in bounded memory. `code`
    is the response's status."""


class PaginationCycleError(RuntimeError):
    """A paginator was handed a page token it had already seen: following it would loop
    forever (or re-emit the same pages), so the capture stops instead."""

    def __init__(self, message: str, token: object) -> None:
        super().__init__(message)
        self.token = token


class TokenRotationError(RuntimeError):
    """A rotating refresh token could not be exchanged or persisted safely."""


def format_error_body(body: bytes, limit: int = BODY_EXCERPT_CHARS) -> str:
    """A printable excerpt of a response body (UTF-8, undecodable bytes escaped)."""
    text = body[: limit * 4].decode("utf-8", errors="backslashreplace")
    if len(text) > limit or len(body) > limit * 4:
        return text[:limit] + f"... [{len(body)} bytes total]"
    return text
