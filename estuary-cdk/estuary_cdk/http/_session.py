"""`HTTPSession`: the request API connectors call (`request`, `request_with_headers`,
`request_lines`, `request_stream`), implemented over one overridable chokepoint,
`_request_stream`.

Each public method only turns its (reference-compatible) arguments into a `RequestSpec` and
picks a stage: `_http_fetch` (the whole body, re-issuing the request if the body is cut short) or
`_http_open` (headers, then the body as a stream).
"""

from __future__ import annotations

import abc
import logging
from collections.abc import AsyncGenerator, Callable
from typing import TYPE_CHECKING, Any

from ._attempts import Attempts, transport_retry
from ._clock import SYSTEM_CLOCK, Clock
from ._errors import Headers, ResponseTooLargeError
from ._limits import HTTPLimits, format_size
from ._retry import RetryPolicy
from ._spec import RequestSpec, ShouldRetryProtocol, Timeout
from ._transport import body_read_errors

if TYPE_CHECKING:
    from ._tokens import TokenSource

__all__ = [
    "DEFAULT_AUTHORIZATION_HEADER",
    "DEFAULT_AUTHORIZATION_TOKEN_TYPE",
    "BodyGeneratorFunction",
    "HTTPSession",
    "HeadersAndBodyGenerator",
    "ShouldRetryProtocol",
    "Timeout",
    "split_lines",
]

DEFAULT_AUTHORIZATION_HEADER = "Authorization"
DEFAULT_AUTHORIZATION_TOKEN_TYPE = "Bearer"

BodyGeneratorFunction = Callable[[], AsyncGenerator[bytes, None]]
HeadersAndBodyGenerator = tuple[Headers, BodyGeneratorFunction]


class HTTPSession(abc.ABC):
    """The HTTP API a connector uses. Every method returns only on success and raises
    `HTTPError` otherwise; retries, rate limits and tokens are handled underneath.

    Attributes a connector may set: `token_source` (authentication), `retry_policy` (how often
    and how long to retry), `limits` (ceilings on the size of a body read whole and on every
    wait of one attempt), `clock` (tests inject a fake one).
    """

    token_source: TokenSource | None = None
    retry_policy: RetryPolicy = RetryPolicy()
    limits: HTTPLimits = HTTPLimits()
    clock: Clock = SYSTEM_CLOCK

    async def request(
        self,
        log: logging.Logger,
        url: str,
        method: str = "GET",
        params: Any = None,
        json: Any = None,
        form: Any = None,
        with_token: bool = True,
        headers: dict[str, str] | None = None,
        should_retry: ShouldRetryProtocol | None = None,
        timeout: Timeout = None,  # noqa: ASYNC109 -- the reference API's parameter name
        *,
        data: bytes | None = None,
        _with_token: bool | None = None,
    ) -> bytes:
        """The whole response body. A body cut short (reset, truncation, read timeout) re-issues
        the request, within the retry policy's attempts."""
        token = _use_token(with_token, _with_token)
        spec = RequestSpec(url, method, params, json, form, token, headers, should_retry, timeout, data)
        return (await self._http_fetch(log, spec))[1]

    async def request_with_headers(
        self,
        log: logging.Logger,
        url: str,
        method: str = "GET",
        params: Any = None,
        json: Any = None,
        form: Any = None,
        with_token: bool = True,
        headers: dict[str, str] | None = None,
        should_retry: ShouldRetryProtocol | None = None,
        timeout: Timeout = None,  # noqa: ASYNC109 -- same parameters as `request`
        *,
        data: bytes | None = None,
    ) -> tuple[Headers, bytes]:
        """Like `request`, also returning the response headers (e.g. for `Link` pagination)."""
        spec = RequestSpec(url, method, params, json, form, with_token, headers, should_retry, timeout, data)
        return await self._http_fetch(log, spec)

    async def request_lines(
        self,
        log: logging.Logger,
        url: str,
        method: str = "GET",
        params: Any = None,
        json: Any = None,
        form: Any = None,
        with_token: bool = True,
        delim: bytes = b"\n",
        headers: dict[str, str] | None = None,
        should_retry: ShouldRetryProtocol | None = None,
        timeout: Timeout = None,  # noqa: ASYNC109 -- the reference API's parameter name
        *,
        data: bytes | None = None,
        _with_token: bool | None = None,
    ) -> HeadersAndBodyGenerator:
        """Response headers and a function producing the body's `delim`-separated lines
        (without the delimiter; a trailing partial line is yielded last), streamed."""
        token = _use_token(with_token, _with_token)
        spec = RequestSpec(url, method, params, json, form, token, headers, should_retry, timeout, data)
        resp_headers, body = await self._http_open(log, spec, None)

        def lines() -> AsyncGenerator[bytes, None]:
            return split_lines(body(), delim)

        return resp_headers, lines

    async def request_stream(
        self,
        log: logging.Logger,
        url: str,
        method: str = "GET",
        params: Any = None,
        json: Any = None,
        form: Any = None,
        with_token: bool = True,
        headers: dict[str, str] | None = None,
        should_retry: ShouldRetryProtocol | None = None,
        timeout: Timeout = None,  # noqa: ASYNC109 -- the reference API's parameter name
        *,
        data: bytes | None = None,
        _with_token: bool | None = None,
    ) -> HeadersAndBodyGenerator:
        """Response headers and a function producing the raw (decompressed) body chunks as they
        arrive. The connection is released when the generator finishes or is closed. Errors
        while streaming the body are raised to the caller (data already consumed can't be
        replayed transparently)."""
        token = _use_token(with_token, _with_token)
        spec = RequestSpec(url, method, params, json, form, token, headers, should_retry, timeout, data)
        return await self._http_open(log, spec, None)

    # --- stages ------------------------------------------------------------------------------

    async def _http_fetch(self, log: logging.Logger, spec: RequestSpec) -> tuple[Headers, bytes]:
        """The response headers and whole body of `spec`. A body cut short re-issues the
        request; these retries and those of the status loop share one `Attempts`."""
        attempts = self._http_attempts(log, spec)
        while True:
            resp_headers, body = await self._http_open(log, spec, attempts)
            try:
                return resp_headers, await self._http_read_body(spec, body)
            except body_read_errors() as exc:
                await attempts.retry(
                    transport_retry(
                        spec,
                        exc,
                        "Reading the response body failed",
                        "error occurred while reading response body (will retry)",
                    )
                )

    async def _http_open(
        self, log: logging.Logger, spec: RequestSpec, attempts: Attempts | None
    ) -> HeadersAndBodyGenerator:
        """Send `spec` until a successful status arrives: through `_request_stream`, with the
        reference kit's arguments, so that a connector's override of it sees every request.
        Implementations that can take the spec (and `attempts`) directly override this."""
        return await self._request_stream(log, *spec.reference_args(), **spec.reference_kwargs())

    async def _http_read_body(self, spec: RequestSpec, body: BodyGeneratorFunction) -> bytes:
        """The whole of a body returned by `_http_open`, within `limits.max_body_bytes`.
        Subclasses whose bodies can be read in one go override this."""
        chunks: list[bytes] = []
        size = 0
        async for chunk in body():
            size += len(chunk)
            if size > self.limits.max_body_bytes:
                scrubbed = spec.scrubbed_url()
                raise ResponseTooLargeError(
                    f"The response body is too large to read whole ({format_size(size)} so far): over "
                    f"HTTPLimits.max_body_bytes = {format_size(self.limits.max_body_bytes)}. Read it with "
                    f"request_stream or request_lines, or raise the limit.\nURL: {scrubbed}",
                    200,
                    url=scrubbed,
                )
            chunks.append(chunk)
        return b"".join(chunks)

    def _http_attempts(self, log: logging.Logger, spec: RequestSpec) -> Attempts:
        """The attempts of one request, against this session's retry policy and clock."""
        return Attempts(log, spec, self.retry_policy, self.clock, status_after=self.limits.status_after)

    @abc.abstractmethod
    async def _request_stream(
        self,
        log: logging.Logger,
        url: str,
        method: str,
        params: Any,
        json: Any,
        form: Any,
        _with_token: bool,
        headers: dict[str, str] | None,
        should_retry: ShouldRetryProtocol | None,
        timeout: Timeout,  # noqa: ASYNC109 -- the reference API's parameter name
        *,
        data: bytes | None = None,
    ) -> HeadersAndBodyGenerator:
        """Send the request (with retries) and return once a successful status arrived. The
        single chokepoint that connectors may override, e.g. to add a header to every request."""
        raise NotImplementedError


async def split_lines(
    chunks: AsyncGenerator[bytes, None], delim: bytes = b"\n"
) -> AsyncGenerator[bytes, None]:
    """Re-chunk a byte stream into `delim`-separated lines, without the delimiter. A final line
    without a trailing delimiter is yielded too. Memory is bounded by the longest line."""
    if not delim:
        raise ValueError("delim must not be empty")
    if len(delim) == 1:
        pending: list[bytes] = []
        async for chunk in chunks:
            start = 0
            while (idx := chunk.find(delim, start)) != -1:
                if pending:
                    pending.append(chunk[start:idx])
                    yield b"".join(pending)
                    pending.clear()
                else:
                    yield chunk[start:idx]
                start = idx + 1
            if start < len(chunk):
                pending.append(chunk[start:])
        if pending:
            yield b"".join(pending)
        return
    buffer = b""
    async for chunk in chunks:
        buffer += chunk
        if delim in buffer:
            *complete, buffer = buffer.split(delim)
            for line in complete:
                yield line
    if buffer:
        yield buffer


def _use_token(with_token: bool, alias: bool | None) -> bool:
    # `_with_token=` is accepted as an alias of `with_token=` (the name `_request_stream` uses).
    return with_token if alias is None else alias
