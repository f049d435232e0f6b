"""`HTTPMixin`: the aiohttp-backed `HTTPSession` a connector inherits, with retries, rate
limiting and authentication."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlencode

from .. import Mixin
from ._aiohttp import aiohttp
from ._attempts import RETRY_NOW, Attempts, Done, Fail, Outcome, Retry, caused, transport_retry
from ._body import ResponseBody, read_error_body
from ._errors import Headers, HostNotFoundError, HTTPConnectionError, HTTPError, format_error_body
from ._headers import budget_exhausted, server_wait, server_wait_header
from ._interactive import interactive_request
from ._limits import HTTPLimits
from ._ratelimit import RateLimiter, RequestBudget
from ._redact import redact
from ._session import BodyGeneratorFunction, HeadersAndBodyGenerator, HTTPSession
from ._spec import RequestSpec, ShouldRetryProtocol, Timeout
from ._transport import describe, describe_fault, is_transient
from ._waits import await_headers


def default_timeout(limits: HTTPLimits | None = None) -> aiohttp.ClientTimeout:
    """The aiohttp session timeout for `limits` (`DEFAULT_TIMEOUT`: the default limits): no
    total limit and `connect_timeout` to connect. aiohttp's read timeout stays off: the waits
    for headers and for the pieces of a body have deadlines of the kit's own (`HTTPLimits`),
    which say which wait it was."""
    limits = limits or HTTPLimits()
    return aiohttp.ClientTimeout(total=None, sock_connect=limits.connect_timeout)


class _DefaultTimeout:
    """`HTTPMixin.default_timeout`, from the instance's `limits`, unless a subclass or instance
    sets its own."""

    def __get__(self, obj: object, owner: type | None = None) -> aiohttp.ClientTimeout:
        return default_timeout(getattr(obj, "limits", None))


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

    A request is sent by `_http_send`, one `_http_send_once` per attempt: wait for the shared
    `RateLimiter` (no warm-up delay), authenticate through `token_source`, send, and
    `_http_classify` the response into a result, a retry after a delay, or a final error
    (`Attempts` decides the waits and builds that error):
    * 2xx/3xx: return (a `RateLimit-Remaining: 0` response pauses later requests until reset);
    * 429: pause every task for `Retry-After`/`RateLimit-Reset`/`X-RateLimit-Reset` (else an
      exponential backoff) and retry, within `retry_policy.max_server_wait` per pause and
      `max_rate_limited_time` in all;
    * 401 with a refreshable token: refresh once and retry, then fail clearly;
    * 5xx and 408 (unless `should_retry` says no), connection errors, timeouts, bodies cut
      short: back off (or wait the server's `Retry-After`) and retry within
      `retry_policy.max_attempts` and `max_retry_time`, then raise
      `HTTPError`/`HTTPConnectionError` naming the fault;
    * other 4xx: raise `HTTPError` at once.
    Each attempt's waits (connect, headers, body) and a body read whole are bounded by
    `limits` (`HTTPLimits`).

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

    # --- the chokepoint and its stages -------------------------------------------------------

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
        """The reference kit's signature, kept for connectors that override it or call it
        (`super()._request_stream(...)`): builds the spec from its arguments and sends it."""
        spec = RequestSpec(url, method, params, json, form, _with_token, headers, should_retry, timeout, data)
        return await self._http_send(log, spec, None)

    async def _http_open(
        self, log: logging.Logger, spec: RequestSpec, attempts: Attempts | None
    ) -> HeadersAndBodyGenerator:
        if type(self)._request_stream is HTTPMixin._request_stream:
            # Not overridden: the spec goes straight through, with the caller's attempts.
            return await self._http_send(log, spec, attempts)
        return await super()._http_open(log, spec, attempts)

    async def _http_read_body(self, spec: RequestSpec, body: BodyGeneratorFunction) -> bytes:
        if isinstance(body, ResponseBody):
            return await body.read_all()
        return await super()._http_read_body(spec, body)

    def _http_attempts(self, log: logging.Logger, spec: RequestSpec) -> Attempts:
        return Attempts(
            log, spec, self.retry_policy, self.clock, self.rate_limiter.pause, self.limits.status_after
        )

    async def _http_send(
        self, log: logging.Logger, spec: RequestSpec, attempts: Attempts | None
    ) -> HeadersAndBodyGenerator:
        """Attempt `spec` until it succeeds or fails for good."""
        if attempts is None:
            attempts = self._http_attempts(log, spec)
        while True:
            outcome = await self._http_send_once(log, spec, attempts)
            if isinstance(outcome, Done):
                return outcome.headers, outcome.body
            if isinstance(outcome, Fail):
                raise outcome.error
            await attempts.retry(outcome)

    async def _http_send_once(self, log: logging.Logger, spec: RequestSpec, attempts: Attempts) -> Outcome:
        """One attempt: wait for the limiter, authenticate, send, and classify what came back."""
        await self.rate_limiter.acquire(log)
        req_headers = spec.send_headers
        req_params = spec.params
        token: str | None = None
        if spec.with_token and self.token_source is not None:
            auth_headers, auth_params, token = await self.token_source.authorize(log, self)
            req_headers = {**req_headers, **auth_headers}
            if auth_params:
                req_params = _merge_params(req_params, auth_params)
        extra: dict[str, Any] = {}
        if (client_timeout := _timeout(spec.timeout)) is not None:
            extra["timeout"] = client_timeout
        sending = self.inner.request(
            spec.method, spec.url, params=req_params, data=spec.body, headers=req_headers, **extra
        )
        debug = log.isEnabledFor(logging.DEBUG)
        started = time.monotonic() if debug else 0.0
        try:
            resp = await await_headers(log, spec, self.limits, sending)
        except (aiohttp.ClientError, TimeoutError, ConnectionResetError) as exc:
            if debug:
                _log_attempt(log, spec, attempts, started, fault=redact(describe_fault(exc)))
            if isinstance(exc, aiohttp.ClientConnectorDNSError) and (request := interactive_request()):
                return Fail(_host_not_found(spec, exc, request))
            if is_transient(exc):
                return transport_retry(
                    spec, exc, "Request failed", "error occurred while sending the request (will retry)"
                )
            # Not transient (an invalid URL, too many redirects, a TLS failure...): fail at
            # once, but with a scrubbed URL rather than aiohttp's message alone.
            scrubbed = spec.scrubbed_url()
            error = HTTPConnectionError(
                f"Request failed: {redact(describe_fault(exc))}\nURL: {scrubbed}", 0, url=scrubbed
            )
            return Fail(caused(error, exc))
        if debug:
            _log_attempt(
                log, spec, attempts, started, status=resp.status, length=resp.headers.get("Content-Length")
            )
        return await self._http_classify(log, spec, attempts, resp, token)

    async def _http_classify(
        self,
        log: logging.Logger,
        spec: RequestSpec,
        attempts: Attempts,
        resp: aiohttp.ClientResponse,
        token: str | None,
    ) -> Outcome:
        """What a response means: the result (2xx/3xx), another attempt (429, 5xx, 408, a 401
        that a token refresh may fix) or a final error (every other 4xx)."""
        status = resp.status
        if status < 400:
            if budget_exhausted(resp.headers):
                wait = server_wait(resp.headers, self.clock.time())
                if wait:
                    self.rate_limiter.pause(
                        log, min(wait, self.retry_policy.max_server_wait), "rate limit budget exhausted"
                    )
            return Done(resp.headers, ResponseBody(resp, spec, self.limits, log))

        body = await read_error_body(resp, spec, self.limits, log)
        headers = resp.headers
        now = self.clock.time()

        def fail(summary: str) -> HTTPError:
            return _error(summary, status, spec, headers, body)

        if status == 429:
            self.rate_limiter.record_rate_limited()
            return Retry(
                "rate_limited",
                lambda how: fail(f"Encountered HTTP error status 429 (rate limited) {how}"),
                fault="HTTP 429, rate limited",
                server_wait=server_wait(headers, now),
                wait_header=server_wait_header(headers),
            )

        if status == 401 and token is not None and self.token_source is not None:
            if not attempts.refreshed and await self.token_source.force_refresh(log, self, token):
                attempts.refreshed = True
                log.info("access token was rejected (401): retrying once with a refreshed token")
                return RETRY_NOW
            what = (
                "even after refreshing the access token"
                if attempts.refreshed
                else "and the configured credentials cannot be refreshed"
            )
            return Fail(
                fail(f"Encountered HTTP error status 401 (unauthorized) {what}: check the credentials")
            )

        if status >= 500 or status == 408:  # 408 Request Timeout: transient like a 5xx
            if spec.should_retry is not None and not spec.should_retry(
                status, headers, body, attempts.attempt
            ):
                return Fail(fail(f"Encountered HTTP error status {status}"))
            return Retry(
                "transient",
                lambda how: fail(f"Encountered HTTP error status {status} {how}"),
                fault=f"HTTP {status}",
                server_wait=server_wait(headers, now),
                wait_header=server_wait_header(headers),
                reason=f"{status} with server-provided wait",
                log_message="server internal error (will retry)",
                log_fields={
                    "status_code": status,
                    "content_type": headers.get("Content-Type"),
                    "body": redact(format_error_body(body, 200)),
                },
            )

        return Fail(fail(f"Encountered HTTP error status {status} which cannot be retried"))


def _host_not_found(
    spec: RequestSpec, exc: aiohttp.ClientConnectorDNSError, request: str
) -> HostNotFoundError:
    """The error of a host name that did not resolve while answering `request` (validate,
    discover): the name first, as the user typed it, then what the resolver said."""
    scrubbed = spec.scrubbed_url()
    message = (
        f"The host name {exc.host!r} could not be resolved while answering {request}: check it in "
        f"the endpoint configuration (not retried: a name that does not resolve is usually "
        f"mistyped). Resolver: {redact(describe(exc.os_error))}\nURL: {scrubbed}"
    )
    error = HostNotFoundError(message, host=exc.host, url=scrubbed)
    caused(error, exc)
    return error


def _log_attempt(
    log: logging.Logger,
    spec: RequestSpec,
    attempts: Attempts,
    started: float,
    *,
    status: int | None = None,
    length: str | None = None,
    fault: str | None = None,
) -> None:
    """One DEBUG line per attempt (`LOG_LEVEL=debug`): method, scrubbed URL, status or fault, the
    time to the response's headers, its declared length and the attempt number."""
    fields: dict[str, Any] = {
        "method": spec.method,
        "url": spec.scrubbed_url(),
        "ms": round((time.monotonic() - started) * 1000, 1),
        "attempt": attempts.attempt,
    }
    if status is not None:
        fields["status"] = status
    if length is not None:
        fields["content_length"] = length
    if fault is not None:
        fields["fault"] = fault
    what = f"HTTP {status}" if status is not None else f"failed ({fault})"
    # `%` doubled: logging formats a message that comes with arguments (URLs are %-encoded).
    message = f"{spec.method} {fields['url']}: {what} in {fields['ms']} ms".replace("%", "%%")
    log.debug(message, fields)


def _error(summary: str, status: int, spec: RequestSpec, headers: Headers, body: bytes) -> HTTPError:
    scrubbed = spec.scrubbed_url()
    message = (
        f"{summary}.\nURL: {scrubbed}\nContent-Type: {headers.get('Content-Type')}\n"
        f"Response:\n{redact(format_error_body(body))}"
    )
    return HTTPError(message, status, body, url=scrubbed, headers=headers)
