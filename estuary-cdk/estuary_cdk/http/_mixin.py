"""`HTTPMixin`: the aiohttp-backed `HTTPSession` a connector inherits, with retries, rate
limiting and authentication."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Mapping, Sequence
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import orjson
from pydantic import BaseModel

from .. import Mixin
from ._aiohttp import aiohttp
from ._errors import Headers, HTTPConnectionError, HTTPError, ResponseBodyError, format_error_body
from ._headers import budget_exhausted, server_wait
from ._ratelimit import RateLimiter, RequestBudget
from ._redact import redact, scrub_url
from ._session import (
    HeadersAndBodyGenerator,
    HTTPSession,
    ShouldRetryProtocol,
    Timeout,
    _describe,
    body_read_errors,
)

_default_timeout: aiohttp.ClientTimeout | None = None


def default_timeout() -> aiohttp.ClientTimeout:
    """`DEFAULT_TIMEOUT`: no total limit, 60 s to connect, 300 s between reads."""
    global _default_timeout
    if _default_timeout is None:
        _default_timeout = aiohttp.ClientTimeout(total=None, sock_connect=60, sock_read=300)
    return _default_timeout


class _DefaultTimeout:
    """`HTTPMixin.default_timeout` unless a subclass or instance sets its own."""

    def __get__(self, obj: object, owner: type | None = None) -> aiohttp.ClientTimeout:
        return default_timeout()


class _Body:
    """The body of a successful response, readable once: streamed through `__call__()` (the
    `BodyGeneratorFunction` contract) or whole through `read_all()` (faster for `request`)."""

    __slots__ = ("_params", "_resp", "_url")

    def __init__(self, resp: aiohttp.ClientResponse, url: str, params: Any) -> None:
        self._resp = resp
        self._url = url
        self._params = params

    def __call__(self) -> AsyncGenerator[bytes, None]:
        return self._stream()

    async def _stream(self) -> AsyncGenerator[bytes, None]:
        try:
            async for chunk in self._resp.content.iter_any():
                yield chunk
        except body_read_errors() as exc:
            scrubbed = scrub_url(self._url, self._params)
            raise ResponseBodyError(
                f"Reading the response body failed mid-stream: {redact(_describe(exc))}\nURL: {scrubbed}",
                0,
                url=scrubbed,
                headers=self._resp.headers,
            ) from exc
        finally:
            self._resp.release()

    async def read_all(self) -> bytes:
        try:
            return await self._resp.read()
        finally:
            self._resp.release()


def _json_default(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, set | frozenset):
        return list(value)
    raise TypeError(f"cannot serialize {type(value).__name__} to JSON")


def _merge_params(params: Any, extra: dict[str, str]) -> Any:
    if not params:
        return extra
    if isinstance(params, str):
        return f"{params}&{urlencode(extra)}"
    if isinstance(params, Mapping):
        return [*params.items(), *extra.items()]
    return [*params, *extra.items()]


def _timeout(value: Timeout) -> aiohttp.ClientTimeout | None:
    if value is None or isinstance(value, aiohttp.ClientTimeout):
        return value
    return aiohttp.ClientTimeout(total=float(value))


class HTTPMixin(Mixin, HTTPSession):
    """Mix into a connector (`class Connector(BaseCaptureConnector[...], HTTPMixin)`) to make
    it the `HTTPSession` its resources use. The connector's lifecycle opens one aiohttp session
    (`_mixin_enter`) and closes it (`_mixin_exit`).

    Per attempt: wait for the shared `RateLimiter` (no warm-up delay), authenticate through
    `token_source`, send, then
    * 2xx/3xx: return (a `RateLimit-Remaining: 0` response pauses later requests until reset);
    * 429: pause every task for `Retry-After`/`RateLimit-Reset`/`X-RateLimit-Reset` (else an
      exponential backoff) and retry;
    * 401 with a refreshable token: refresh once and retry, then fail clearly;
    * 5xx and 408 (unless `should_retry` says no), connection errors, timeouts: back off (or
      wait the server's `Retry-After`) and retry up to `retry_policy.max_attempts`, then raise
      `HTTPError`/`HTTPConnectionError`;
    * other 4xx: raise `HTTPError` at once.

    Set `rate_limit_budget` (class or instance attribute, before the session opens) for a
    proactive budget, or call `self.rate_limiter.set_budget(...)` later.
    """

    rate_limiter: RateLimiter
    rate_limit_budget: RequestBudget | Sequence[RequestBudget] | None = None
    default_timeout: aiohttp.ClientTimeout = _DefaultTimeout()  # type: ignore[assignment]
    connection_limit: int = 100

    @property
    def inner(self) -> aiohttp.ClientSession:
        """The aiohttp session, opened on first use: a process that sends no request never
        loads aiohttp."""
        session: aiohttp.ClientSession | None = self.__dict__.get("_inner_session")
        if session is None:
            session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.connection_limit),
                timeout=self.default_timeout,
            )
            self.__dict__["_inner_session"] = session
        return session

    @inner.setter
    def inner(self, session: aiohttp.ClientSession) -> None:
        self.__dict__["_inner_session"] = session

    async def _mixin_enter(self, log: logging.Logger) -> None:
        limiter = getattr(self, "rate_limiter", None)
        if limiter is None:
            # Resuming after a server pause is jittered like retries are (`RetryPolicy(jitter=0)`
            # turns both off, for tests that assert exact times).
            policy = self.retry_policy
            self.rate_limiter = RateLimiter(
                self.rate_limit_budget,
                clock=self.clock,
                resume_jitter=None if policy.jitter else 0.0,
                rng=policy.rng,
            )
        else:
            limiter.clock = self.clock
        current = self.__dict__.get("_inner_session")
        if current is not None and current.closed:
            del self.__dict__["_inner_session"]  # A new one opens with the next request.

    async def _mixin_exit(self, log: logging.Logger) -> None:
        current = self.__dict__.get("_inner_session")
        if current is not None:
            await current.close()

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
        policy = self.retry_policy
        limiter = self.rate_limiter
        base_headers = dict(headers) if headers else {}
        payload: Any = data
        if json is not None:
            payload = orjson.dumps(json, default=_json_default)
            if not any(k.lower() == "content-type" for k in base_headers):
                base_headers["Content-Type"] = "application/json"
        elif form is not None:
            payload = form
        request_kwargs: dict[str, Any] = {}
        if (client_timeout := _timeout(timeout)) is not None:
            request_kwargs["timeout"] = client_timeout

        attempt = 1  # attempts spent on 5xx / connection errors
        rate_limited = 0
        refreshed = False
        while True:
            await limiter.acquire(log)
            req_headers = base_headers
            req_params = params
            token: str | None = None
            if _with_token and self.token_source is not None:
                auth_headers, auth_params, token = await self.token_source.authorize(log, self)
                req_headers = {**base_headers, **auth_headers}
                if auth_params:
                    req_params = _merge_params(params, auth_params)

            try:
                resp = await self.inner.request(
                    method, url, params=req_params, data=payload, headers=req_headers, **request_kwargs
                )
            except body_read_errors() as exc:
                delay = self._retry_or_raise(log, method, url, params, attempt, exc)
                attempt += 1
                await self.clock.sleep(delay)
                continue
            except aiohttp.ClientError as exc:
                # Not transient (an invalid URL, too many redirects...): fail at once, but with
                # a scrubbed URL rather than aiohttp's message alone.
                scrubbed = scrub_url(url, params)
                raise HTTPConnectionError(
                    f"Request failed: {redact(_describe(exc))}\nURL: {scrubbed}", 0, url=scrubbed
                ) from exc

            status = resp.status
            if status < 400:
                if budget_exhausted(resp.headers):
                    wait = server_wait(resp.headers, self.clock.time())
                    if wait:
                        limiter.pause(log, min(wait, policy.max_server_wait), "rate limit budget exhausted")
                return resp.headers, _Body(resp, url, params)

            try:
                body = await resp.read()
            except body_read_errors():
                body = b""
            finally:
                resp.release()
            resp_headers = resp.headers

            if status == 429:
                limiter.record_rate_limited()
                rate_limited += 1
                if policy.max_rate_limit_retries is not None and rate_limited > policy.max_rate_limit_retries:
                    raise self._error(
                        f"Encountered HTTP error status 429 (rate limited) {rate_limited} times in a row",
                        status,
                        url,
                        params,
                        resp_headers,
                        body,
                    )
                wait = server_wait(resp_headers, self.clock.time())
                reason = "429 with server-provided wait" if wait is not None else "429 backoff"
                if wait is None:
                    wait = policy.backoff(rate_limited)
                limiter.pause(log, min(wait, policy.max_server_wait), reason)
                continue

            if status == 401 and token is not None and self.token_source is not None:
                if not refreshed and await self.token_source.force_refresh(log, self, token):
                    refreshed = True
                    log.info("access token was rejected (401): retrying once with a refreshed token")
                    continue
                what = (
                    "even after refreshing the access token"
                    if refreshed
                    else "and the configured credentials cannot be refreshed"
                )
                raise self._error(
                    f"Encountered HTTP error status 401 (unauthorized) {what}: check the credentials",
                    status,
                    url,
                    params,
                    resp_headers,
                    body,
                )

            if status >= 500 or status == 408:  # 408 Request Timeout: transient like a 5xx
                if should_retry is not None and not should_retry(status, resp_headers, body, attempt):
                    raise self._error(
                        f"Encountered HTTP error status {status}", status, url, params, resp_headers, body
                    )
                if attempt >= policy.max_attempts:
                    raise self._error(
                        f"Encountered HTTP error status {status} after {attempt} attempts",
                        status,
                        url,
                        params,
                        resp_headers,
                        body,
                    )
                server_delay = server_wait(resp_headers, self.clock.time())
                delay = (
                    policy.backoff(attempt)
                    if server_delay is None
                    else min(server_delay, policy.max_server_wait)
                )
                log.warning(
                    "server internal error (will retry)",
                    {
                        "url": scrub_url(url, params),
                        "status_code": status,
                        "content_type": resp_headers.get("Content-Type"),
                        "body": redact(format_error_body(body, 200)),
                        "attempt": attempt,
                        "retry_in": round(delay, 3),
                    },
                )
                attempt += 1
                if server_delay is None:
                    await self.clock.sleep(delay)
                else:
                    # The server said when to come back (e.g. 503 + Retry-After): hold every
                    # task until then, through the limiter (which announces long waits).
                    limiter.pause(log, delay, f"{status} with server-provided wait")
                continue

            raise self._error(
                f"Encountered HTTP error status {status} which cannot be retried",
                status,
                url,
                params,
                resp_headers,
                body,
            )

    def _retry_or_raise(
        self, log: logging.Logger, method: str, url: str, params: Any, attempt: int, exc: BaseException
    ) -> float:
        policy = self.retry_policy
        scrubbed = scrub_url(url, params)
        if attempt >= policy.max_attempts:
            raise HTTPConnectionError(
                f"Request failed after {attempt} attempts: {redact(_describe(exc))}\nURL: {scrubbed}",
                0,
                url=scrubbed,
            ) from exc
        delay = policy.backoff(attempt)
        log.warning(
            "error occurred while sending the request (will retry)",
            {
                "url": scrubbed,
                "method": method,
                "attempt": attempt,
                "error": redact(_describe(exc)),
                "retry_in": round(delay, 3),
            },
        )
        return delay

    @staticmethod
    def _error(summary: str, status: int, url: str, params: Any, headers: Headers, body: bytes) -> HTTPError:
        scrubbed = scrub_url(url, params)
        message = (
            f"{summary}.\nURL: {scrubbed}\nContent-Type: {headers.get('Content-Type')}\n"
            f"Response:\n{redact(format_error_body(body))}"
        )
        return HTTPError(message, status, url=scrubbed, headers=headers)
