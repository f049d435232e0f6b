"""The attempts of one request: what each try ended in, and the one place that decides whether
to try again, how long to wait first, what to log, and which error ends it.

Both retry loops use it: the status loop of `HTTPMixin` (connection errors, 429, 5xx) and the
body-read loop of `HTTPSession.request` (a body cut short re-issues the request). One request
shares one `Attempts`, so its attempt budget covers both kinds of failure.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from ._clock import Clock
from ._errors import Headers, HTTPConnectionError
from ._redact import redact
from ._retry import RetryPolicy
from ._spec import RequestSpec
from ._transport import describe

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
      `RetryPolicy.max_attempts` and waits the backoff, or `server_wait` when the server said;
    * `kind="rate_limited"` (429) counts against `max_rate_limit_retries` and pauses every task
      through the rate limiter;
    * `kind="now"` retries at once without counting (e.g. after refreshing a rejected token).

    `give_up(how)` builds the error raised when no attempt is left, `how` saying how many were
    made (e.g. "after 5 attempts"). `log_message`/`log_fields` describe the failure in the
    warning logged before a transient retry; `reason` names a server-requested pause.
    """

    kind: Literal["transient", "rate_limited", "now"]
    give_up: Callable[[str], BaseException]
    server_wait: float | None = None
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
    "{failed} after N attempts: {exc}" with the URL."""
    error = redact(describe(exc))

    def give_up(how: str) -> BaseException:
        scrubbed = spec.scrubbed_url()
        message = f"{failed} {how}: {error}\nURL: {scrubbed}"
        return caused(HTTPConnectionError(message, 0, url=scrubbed), exc)

    return Retry(
        "transient", give_up, log_message=log_message, log_fields={"method": spec.method, "error": error}
    )


class Attempts:
    """Counts one request's attempts against its `RetryPolicy`; `retry` waits before the next
    one or raises the final error. `attempt` is the number of the current transient attempt
    (what `should_retry` is told); `refreshed` records that a rejected token was already
    replaced once."""

    __slots__ = ("_clock", "_log", "_pause", "_policy", "_spec", "attempt", "rate_limited", "refreshed")

    def __init__(
        self,
        log: logging.Logger,
        spec: RequestSpec,
        policy: RetryPolicy,
        clock: Clock,
        pause: PauseFn | None = None,
    ) -> None:
        self._log = log
        self._spec = spec
        self._policy = policy
        self._clock = clock
        self._pause = pause
        self.attempt = 1
        self.rate_limited = 0
        self.refreshed = False

    async def retry(self, retry: Retry) -> None:
        """Wait as `retry` asks before the next attempt, or raise its final error if the policy
        allows no more."""
        if retry.kind == "now":
            return
        policy = self._policy
        if retry.kind == "rate_limited":
            self.rate_limited += 1
            limit = policy.max_rate_limit_retries
            if limit is not None and self.rate_limited > limit:
                raise retry.give_up(f"{self.rate_limited} times in a row")
            wait = retry.server_wait
            reason = retry.reason or "429 with server-provided wait"
            if wait is None:
                wait, reason = policy.backoff(self.rate_limited), "429 backoff"
            self._hold(min(wait, policy.max_server_wait), reason)
            return
        if self.attempt >= policy.max_attempts:
            raise retry.give_up(f"after {self.attempt} attempts")
        server_wait = retry.server_wait
        delay = (
            policy.backoff(self.attempt) if server_wait is None else min(server_wait, policy.max_server_wait)
        )
        self._log.warning(
            retry.log_message,
            {
                "url": self._spec.scrubbed_url(),
                **retry.log_fields,
                "attempt": self.attempt,
                "retry_in": round(delay, 3),
            },
        )
        self.attempt += 1
        if server_wait is None:
            await self._clock.sleep(delay)
        else:
            # The server said when to come back (e.g. 503 + Retry-After): hold every task until
            # then, through the limiter (which announces long waits).
            self._hold(delay, retry.reason)

    def _hold(self, seconds: float, reason: str) -> None:
        if self._pause is None:
            raise RuntimeError("a server-requested pause needs a rate limiter")
        self._pause(self._log, seconds, reason)
