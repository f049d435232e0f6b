"""One rate limiter per connector, shared by every task's requests."""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from ._clock import SYSTEM_CLOCK, Clock
from ._events import status_event


@dataclass(frozen=True)
class RequestBudget:
    """At most `requests` requests per `per_seconds` seconds (a token bucket that starts full, so
    the first `requests` requests go out at once). E.g. `RequestBudget(1, 60)` for an API that
    allows one request a minute, `RequestBudget(10, 1)` for 10 per second."""

    requests: int
    per_seconds: float

    def __post_init__(self) -> None:
        if self.requests < 1 or self.per_seconds <= 0:
            raise ValueError(f"invalid request budget {self.requests}/{self.per_seconds}s")


class _Bucket:
    def __init__(self, budget: RequestBudget, now: float) -> None:
        self.capacity = float(budget.requests)
        self.rate = budget.requests / budget.per_seconds
        self.tokens = self.capacity
        self.updated = now

    def refill(self, now: float) -> None:
        if now > self.updated:
            self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
            self.updated = now

    def wait(self) -> float:
        return 0.0 if self.tokens >= 1.0 else (1.0 - self.tokens) / self.rate


class RateLimiter:
    """Paces the requests of all tasks of one connector.

    There is no warm-up: with no budget and no server pushback every request goes out at once.
    A server that pushes back (429, `Retry-After`, an exhausted `RateLimit-Remaining`) pauses
    *every* task until the time it asked for, not just the one that got the response. An
    optional proactive `budget` (one or several `RequestBudget`s) keeps under known limits.
    Waits longer than `status_after` seconds are announced with a `connectorStatus` event
    ("waiting on rate limit until …") so the user can tell throttling from a hang.

    When a server pause ends, the tasks it held don't all resume at the same instant (which
    could trip the limit again at once): each resumes at a random moment up to `resume_jitter`
    seconds after the end, and no more than a tenth of the time it had left to wait.
    `resume_jitter=0` resumes them together (`HTTPMixin` does so under `RetryPolicy(jitter=0)`).

    The reference kit's pacing API is here too, for connectors written against it: `delay` is a
    sleep before every request (0 here, where the reference starts at 1 s: there is no warm-up),
    which a connector may set, and `update(log, cur_delay, failed)` moves it by the reference's
    rule (source-genesys sets `delay = 3.0` and calls `update` as the backoff of a polling loop,
    sleeping `delay` itself). This kit's own requests never call `update`, so the delay changes
    only when a connector changes it.
    """

    STATUS_AFTER = 30.0
    RESUME_JITTER = 1.0
    MAX_DELAY = 300.0
    """The most `update` grows `delay` to (the reference's cap)."""
    gain = 0.01
    """How far each `update` moves `delay` towards its target (the reference's smoothing)."""

    def __init__(
        self,
        budget: RequestBudget | Sequence[RequestBudget] | None = None,
        *,
        clock: Clock | None = None,
        status_after: float | None = None,
        resume_jitter: float | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.clock: Clock = clock or SYSTEM_CLOCK
        self.status_after = self.STATUS_AFTER if status_after is None else status_after
        self.resume_jitter = self.RESUME_JITTER if resume_jitter is None else resume_jitter
        self.rng = rng or random.Random()
        self._budgets: tuple[RequestBudget, ...] = ()
        self._buckets: list[_Bucket] = []
        self._paused_until = float("-inf")
        self._announced_until = float("-inf")
        self.total = 0
        self.failed = 0
        self.waited = 0.0
        self.has_reached_max_delay = False
        self._pacing = 0.0
        self.set_budget(budget)

    @property
    def delay(self) -> float:
        """Seconds the next request waits at least: the pacing delay, or what is left of a
        server's pause if longer. Setting it sets the pacing delay (the reference kit's API)."""
        return max(self._pacing, self._paused_until - self.clock.monotonic())

    @delay.setter
    def delay(self, seconds: float) -> None:
        if not seconds >= 0.0:  # also refuses NaN
            raise ValueError(f"RateLimiter.delay must be a number of seconds >= 0, not {seconds!r}")
        self._pacing = min(float(seconds), self.MAX_DELAY)

    def update(self, log: logging.Logger, cur_delay: float, failed: bool) -> None:
        """The reference kit's feedback rule, for connectors that drive the delay themselves:
        after a request made `cur_delay` seconds after the previous one, move `delay` a `gain`
        of the way towards 4 x `cur_delay` (at least 0.1 s) if it `failed` (was rate limited),
        else towards half of it until anything ever failed, and 0.99 x it after that; never
        above `MAX_DELAY` (announced once, as a warning)."""
        self.total += 1
        if failed:
            self.failed += 1
            target = max(4.0 * cur_delay, 0.1)
        elif self.failed == 0:
            target = cur_delay / 2.0
        else:
            target = cur_delay * 0.99
        pacing = (1.0 - self.gain) * self._pacing + self.gain * target
        if pacing >= self.MAX_DELAY:
            pacing = self.MAX_DELAY
            if not self.has_reached_max_delay:
                self.has_reached_max_delay = True
                log.warning("rate limiter has reached its maximum delay", {"delay": pacing})
        self._pacing = pacing

    @property
    def error_ratio(self) -> float:
        return self.failed / self.total if self.total else 0.0

    @property
    def budgets(self) -> tuple[RequestBudget, ...]:
        return self._budgets

    def set_budget(self, budget: RequestBudget | Sequence[RequestBudget] | None) -> None:
        """Replace the proactive budget (`None` removes it)."""
        if budget is None:
            budgets: tuple[RequestBudget, ...] = ()
        elif isinstance(budget, RequestBudget):
            budgets = (budget,)
        else:
            budgets = tuple(budget)
        now = self.clock.monotonic()
        self._budgets = budgets
        self._buckets = [_Bucket(b, now) for b in budgets]

    def paused_for(self) -> float:
        """Seconds until server pushback ends (0 if not paused)."""
        return max(0.0, self._paused_until - self.clock.monotonic())

    async def acquire(self, log: logging.Logger) -> None:
        """Wait until a request may be sent, then take one unit of every budget."""
        if self._pacing > 0.0:  # A connector set `delay`: the reference sleeps it before each request.
            self.waited += self._pacing
            await self.clock.sleep(self._pacing)
        while True:
            now = self.clock.monotonic()
            paused = self._paused_until - now
            wait = paused
            for bucket in self._buckets:
                bucket.refill(now)
                wait = max(wait, bucket.wait())
            if wait <= 0:
                for bucket in self._buckets:
                    bucket.tokens -= 1.0
                self.total += 1
                return
            if wait == paused and self.resume_jitter > 0:
                wait += self.rng.random() * min(self.resume_jitter, 0.1 * paused)
            self._announce(log, now + wait)
            self.waited += wait
            await self.clock.sleep(wait)

    def pause(self, log: logging.Logger, seconds: float, reason: str) -> None:
        """Hold every task's requests for `seconds` from now (never shortens a longer pause)."""
        until = self.clock.monotonic() + max(0.0, seconds)
        if until <= self._paused_until:
            return
        self._paused_until = until
        log.info(
            "pausing requests on server rate limit",
            {"reason": reason, "seconds": round(seconds, 3)},
        )

    def record_rate_limited(self) -> None:
        self.failed += 1

    def _announce(self, log: logging.Logger, until: float) -> None:
        if until - self.clock.monotonic() < self.status_after or until <= self._announced_until + 1.0:
            return
        self._announced_until = until
        wall = self.clock.time() + (until - self.clock.monotonic())
        stamp = datetime.fromtimestamp(wall, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        status_event(log, f"waiting on rate limit until {stamp}")
