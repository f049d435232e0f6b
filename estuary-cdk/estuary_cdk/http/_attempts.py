"""The attempts of one request: what each try ended in, and the one place that decides whether
to try again, how long to wait first, what to log and announce, and which error ends it.

Both retry loops use it: the status loop of `HTTPMixin` (connection errors, 429, 5xx) and the
body-read loop of `HTTPSession.request` (a body cut short re-issues the request). One request
shares one `Attempts`, so its attempt and time budgets cover both kinds of failure.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from ._clock import Clock
from ._errors import Headers, HTTPConnectionError
from ._events import status_event
from ._limits import format_duration
from ._redact import redact
from ._retry import RetryPolicy
from ._spec import RequestSpec
from ._transport import describe, describe_fault, fault_name

PauseFn = Callable[[logging.Logger, float, str], None]
"""Holds every task's requests for some seconds (`RateLimiter.pause`)."""


@dataclass(frozen=True, slots=True)
class Done:
    """The attempt succeeded: these response headers and this body are the request's result."""

    headers: Headers
    body: Any


@dataclass(frozen=True, slots=True)
class Fail:
    """The attempt failed in a way no retry fixes: raise `error`."""

    error: BaseException


@dataclass(frozen=True, slots=True)
class Retry:
    """The attempt failed in a way another attempt may fix.

    * `kind="transient"` (5xx, 408, connection errors, bodies cut short) counts against
      `RetryPolicy.max_attempts` and `max_retry_time` and waits the backoff, or `server_wait`
      when the server said how long (then like a rate limit);
    * `kind="rate_limited"` (429) counts against `max_rate_limit_retries` and pauses every task
      through the rate limiter;
    * `kind="now"` retries at once without counting (e.g. after refreshing a rejected token).

    `give_up(how)` builds the error raised when the request stops trying, `how` saying why
    (e.g. "after 5 attempts over 31 s"). `fault` names what went wrong (for the status line of
    a long wait); `log_message`/`log_fields` are the warning logged before a transient retry;
    `wait_header` is the header a server wait came from and `reason` names the pause.
    """

    kind: Literal["transient", "rate_limited", "now"]
    give_up: Callable[[str], BaseException]
    fault: str = ""
    server_wait: float | None = None
    wait_header: str | None = None
    reason: str = ""
    log_message: str = ""
    log_fields: Mapping[str, Any] = field(default_factory=dict)


Outcome = Done | Fail | Retry


def _never_gives_up(how: str) -> BaseException:
    raise AssertionError("a retry of kind 'now' is not counted, so it never gives up")


RETRY_NOW = Retry("now", _never_gives_up)


def caused(error: BaseException, cause: BaseException) -> BaseException:
    """`error` with `cause` as its `__cause__` (as `raise error from cause` would set)."""
    error.__cause__ = cause
    error.__suppress_context__ = True
    return error


def transport_retry(spec: RequestSpec, exc: BaseException, failed: str, log_message: str) -> Retry:
    """A transient retry of a failure on the wire (`exc`), whose final error reads
    "{failed} after N attempts over T: {fault} ({exc})" with the URL."""
    fault = redact(describe_fault(exc))

    def give_up(how: str) -> BaseException:
        scrubbed = spec.scrubbed_url()
        message = f"{failed} {how}: {fault}\nURL: {scrubbed}"
        return caused(HTTPConnectionError(message, 0, url=scrubbed), exc)

    return Retry(
        "transient",
        give_up,
        fault=fault_name(exc),
        log_message=log_message,
        log_fields={"method": spec.method, "error": redact(describe(exc)), "fault": fault_name(exc)},
    )


class Attempts:
    """Counts one request's attempts and time against its `RetryPolicy`; `retry` waits before
    the next attempt or raises the final error. `attempt` is the number of the current
    transient attempt (what `should_retry` is told); `refreshed` records that a rejected token
    was already replaced once. Times come from the session's `Clock`, so tests drive them with
    a `FakeClock`."""

    __slots__ = (
        "_clock",
        "_limited_since",
        "_log",
        "_next_announce",
        "_pause",
        "_policy",
        "_spec",
        "_started",
        "_status_after",
        "attempt",
        "rate_limited",
        "refreshed",
    )

    def __init__(
        self,
        log: logging.Logger,
        spec: RequestSpec,
        policy: RetryPolicy,
        clock: Clock,
        pause: PauseFn | None = None,
        status_after: float = 30.0,
    ) -> None:
        self._log = log
        self._spec = spec
        self._policy = policy
        self._clock = clock
        self._pause = pause
        self._status_after = status_after
        self._started = clock.monotonic()
        self._limited_since: float | None = None
        self._next_announce = status_after
        self.attempt = 1
        self.rate_limited = 0
        self.refreshed = False

    async def retry(self, retry: Retry) -> None:
        """Wait as `retry` asks before the next attempt, or raise its final error if the policy
        allows no more."""
        if retry.kind == "now":
            return
        if retry.kind == "rate_limited":
            self._rate_limited(retry)
        elif retry.server_wait is not None:
            self._count_attempt(retry)
            self._server_pause(retry, retry.server_wait, retry.reason)
        else:
            await self._back_off(retry)

    def _rate_limited(self, retry: Retry) -> None:
        policy = self._policy
        self.rate_limited += 1
        limit = policy.max_rate_limit_retries
        if limit is not None and self.rate_limited > limit:
            raise retry.give_up(f"{self.rate_limited} times in a row over {self._elapsed()}")
        if retry.server_wait is None:
            self._server_pause(retry, policy.backoff(self.rate_limited), "429 backoff")
        else:
            self._server_pause(retry, retry.server_wait, retry.reason or "429 with server-provided wait")

    def _count_attempt(self, retry: Retry) -> None:
        if self.attempt >= self._policy.max_attempts:
            raise retry.give_up(f"after {_attempts(self.attempt)} over {self._elapsed()}")

    async def _back_off(self, retry: Retry) -> None:
        policy = self._policy
        self._count_attempt(retry)
        delay = policy.backoff(self.attempt)
        elapsed = self._clock.monotonic() - self._started
        if policy.max_retry_time is not None and elapsed + delay > policy.max_retry_time:
            raise retry.give_up(
                f"after {_attempts(self.attempt)} over {format_duration(elapsed)} (no retry starts more "
                f"than {format_duration(policy.max_retry_time)} after the first attempt: "
                f"RetryPolicy.max_retry_time)"
            )
        self._warn(retry, delay)
        self.attempt += 1
        if delay >= self._status_after:
            status_event(
                self._log,
                f"retrying {self._spec.scrubbed_url()} in {format_duration(delay)} after: {retry.fault} "
                f"(attempt {self.attempt} of at most {policy.max_attempts})",
            )
        await self._clock.sleep(delay)

    def _server_pause(self, retry: Retry, wait: float, reason: str) -> None:
        """Hold every task for `wait` seconds the server asked for (or a 429 backoff), within
        the policy's ceilings on one such wait and on their total for this request."""
        policy = self._policy
        source = f" ({retry.wait_header})" if retry.wait_header else ""
        if wait > policy.max_server_wait:
            raise retry.give_up(
                f"and asked to wait {format_duration(wait)}{source}, longer than the "
                f"{format_duration(policy.max_server_wait)} limit on one wait (RetryPolicy.max_server_wait)"
            )
        now = self._clock.monotonic()
        if self._limited_since is None:
            self._limited_since = now
        limited = now - self._limited_since
        if policy.max_rate_limited_time is not None and limited + wait > policy.max_rate_limited_time:
            raise retry.give_up(
                f"{self.rate_limited or self.attempt} times over {format_duration(limited)}, and waiting "
                f"another {format_duration(wait)}{source} would pass the "
                f"{format_duration(policy.max_rate_limited_time)} limit on waiting for one request "
                f"(RetryPolicy.max_rate_limited_time)"
            )
        if retry.kind == "transient":
            self._warn(retry, wait)
            self.attempt += 1
        # A long pause is announced by the limiter; many short ones add up to a long wait too.
        if wait < self._status_after and limited + wait >= self._next_announce:
            self._next_announce = max(self._next_announce, limited + wait) * 2
            ceiling = policy.max_rate_limited_time
            status_event(
                self._log,
                f"waiting on {self._spec.scrubbed_url()}, which keeps asking for pauses ({retry.fault}): "
                f"{format_duration(limited + wait)} in all so far"
                + (f" (gives up past {format_duration(ceiling)})" if ceiling is not None else ""),
            )
        # Through the limiter, which holds every task and announces a single long pause.
        if self._pause is None:
            raise RuntimeError("a server-requested pause needs a rate limiter")
        self._pause(self._log, wait, reason)

    def _warn(self, retry: Retry, delay: float) -> None:
        self._log.warning(
            retry.log_message,
            {
                "url": self._spec.scrubbed_url(),
                **retry.log_fields,
                "attempt": self.attempt,
                "retry_in": round(delay, 3),
            },
        )

    def _elapsed(self) -> str:
        return format_duration(self._clock.monotonic() - self._started)


def _attempts(count: int) -> str:
    return "1 attempt" if count == 1 else f"{count} attempts"
