"""Retry policy: which failures are retried, how often, how long to wait between tries, and
how long a request may keep trying in all."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class RetryPolicy:
    """Bounded retries with exponential backoff and jitter.

    Transient faults (a 5xx or 408, a refused or reset connection, a timeout, a body cut
    short) are retried until the first of:
    * `max_attempts` attempts (the first try counts);
    * `max_retry_time` seconds since the first attempt: a retry that would start later is not
      made. With the defaults a request that keeps failing fast (a refused connection, a body
      that keeps breaking) gives up within a minute; one attempt may itself take up to the
      session's `HTTPLimits` (e.g. `headers_timeout` for a server that never answers).
    The n-th backoff is `min(max_delay, base_delay * 2**(n-1))`, of which a random fraction up
    to `jitter` is taken off, so that concurrent tasks don't retry in lockstep.

    Waits the server asks for (429 responses, and a 5xx with `Retry-After`): the wait comes
    from `Retry-After`/`RateLimit-Reset`/`X-RateLimit-Reset` when present (else the backoff),
    and pauses every task of the session. A server that asks for more than `max_server_wait`
    seconds at once fails the request at once (a day-long `Retry-After` is not a wait to sit
    out); one request waits at most `max_rate_limited_time` seconds in all on such pauses, and
    `max_rate_limit_retries` (`None`: no count limit) bounds how many 429s it takes.

    Every failure that ends a request names the URL, the fault (or status) and how long the
    request tried. Where a quick answer matters more, e.g. in `validate` where a user waits on a
    wrong URL, set a smaller policy first: `self.retry_policy = RetryPolicy(max_attempts=2)`.
    """

    max_attempts: int = 8
    base_delay: float = 1.0
    max_delay: float = 60.0
    jitter: float = 0.5
    max_retry_time: float | None = 60.0
    max_rate_limit_retries: int | None = None
    max_server_wait: float = 3600.0
    max_rate_limited_time: float | None = 3600.0
    rng: random.Random = field(default_factory=random.Random, repr=False)

    def backoff(self, attempt: int) -> float:
        """The wait before retry number `attempt` (1-based)."""
        delay = min(self.max_delay, self.base_delay * (2 ** max(0, attempt - 1)))
        if self.jitter:
            delay *= 1.0 - self.jitter * self.rng.random()
        return delay
