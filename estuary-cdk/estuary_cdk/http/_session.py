"""`HTTPSession`: the request API connectors call (`request`, `request_lines`,
`request_stream`), implemented over one overridable chokepoint, `_request_stream`."""

from __future__ import annotations

import abc
import logging
from collections.abc import AsyncGenerator, Callable
from typing import TYPE_CHECKING, Any, Protocol, Union

from ._aiohttp import aiohttp
from ._clock import SYSTEM_CLOCK, Clock
from ._errors import Headers, HTTPConnectionError, ResponseBodyError
from ._redact import redact, scrub_url
from ._retry import RetryPolicy

if TYPE_CHECKING:
    from ._tokens import TokenSource

DEFAULT_AUTHORIZATION_HEADER = "Authorization"
DEFAULT_AUTHORIZATION_TOKEN_TYPE = "Bearer"

BodyGeneratorFunction = Callable[[], AsyncGenerator[bytes, None]]
HeadersAndBodyGenerator = tuple[Headers, BodyGeneratorFunction]
if TYPE_CHECKING:
    Timeout = aiohttp.ClientTimeout | float | None
else:  # A forward reference: naming the class here would load aiohttp at import.
    Timeout = Union["aiohttp.ClientTimeout", float, None]

_body_read_errors: tuple[type[BaseException], ...] = ()


def body_read_errors() -> tuple[type[BaseException], ...]:
    """Failures while reading a response body that re-issuing the request can fix (built on
    first use, once aiohttp is loaded)."""
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


class ShouldRetryProtocol(Protocol):
    """Decides whether a 5xx response is retried (`attempt` starts at 1). Returning False fails
    the request at once with an `HTTPError`."""

    def __call__(self, status: int, headers: Headers, body: bytes, attempt: int) -> bool: ...


class HTTPSession(abc.ABC):
    """The HTTP API a connector uses. Every method returns only on success and raises
    `HTTPError` otherwise; retries, rate limits and tokens are handled underneath.

    Attributes a connector may set: `token_source` (authentication), `retry_policy`, `clock`
    (tests inject a fake one).
    """

    token_source: TokenSource | None = None
    retry_policy: RetryPolicy = RetryPolicy()
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
        _, body = await self.request_with_headers(
            log,
            url,
            method,
            params,
            json,
            form,
            _use_token(with_token, _with_token),
            headers,
            should_retry,
            timeout,
            data=data,
        )
        return body

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
        attempt = 1
        while True:
            resp_headers, body = await self._send_request(
                log, url, method, params, json, form, with_token, headers, should_retry, timeout, data
            )
            try:
                read_all = getattr(body, "read_all", None)
                if read_all is not None:
                    return resp_headers, bytes(await read_all())
                return resp_headers, b"".join([chunk async for chunk in body()])
            except body_read_errors() as exc:
                policy = self.retry_policy
                scrubbed = scrub_url(url, params)
                if attempt >= policy.max_attempts:
                    raise HTTPConnectionError(
                        f"Reading the response body failed after {attempt} attempts: "
                        f"{redact(_describe(exc))}\nURL: {scrubbed}",
                        0,
                        url=scrubbed,
                    ) from exc
                delay = policy.backoff(attempt)
                log.warning(
                    "error occurred while reading response body (will retry)",
                    {
                        "url": scrubbed,
                        "method": method,
                        "attempt": attempt,
                        "error": redact(_describe(exc)),
                        "retry_in": round(delay, 3),
                    },
                )
                attempt += 1
                await self.clock.sleep(delay)

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
        resp_headers, body = await self._send_request(
            log,
            url,
            method,
            params,
            json,
            form,
            _use_token(with_token, _with_token),
            headers,
            should_retry,
            timeout,
            data,
        )

        async def lines() -> AsyncGenerator[bytes, None]:
            async for line in split_lines(body(), delim):
                yield line

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
        return await self._send_request(
            log,
            url,
            method,
            params,
            json,
            form,
            _use_token(with_token, _with_token),
            headers,
            should_retry,
            timeout,
            data,
        )

    async def _send_request(
        self,
        log: logging.Logger,
        url: str,
        method: str,
        params: Any,
        json: Any,
        form: Any,
        with_token: bool,
        headers: dict[str, str] | None,
        should_retry: ShouldRetryProtocol | None,
        timeout: Timeout,  # noqa: ASYNC109 -- the reference API's parameter name
        data: bytes | None,
    ) -> HeadersAndBodyGenerator:
        """The one call into `_request_stream` that every public method makes. Connectors
        override `_request_stream` with the reference kit's signature, which has no `data`: it
        is only passed when a raw body was actually given."""
        extra: dict[str, Any] = {} if data is None else {"data": data}
        return await self._request_stream(
            log, url, method, params, json, form, with_token, headers, should_retry, timeout, **extra
        )

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


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
