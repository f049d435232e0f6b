"""Retry policy: which failures are retried, how often, and how long to wait between tries."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class RetryPolicy:
    """Bounded retries with exponential backoff and jitter.

    * `max_attempts` bounds the attempts of one request that fails with a 5xx, a connection
      error, a timeout or a truncated body (the first try counts).
    * 429 responses are retried `max_rate_limit_retries` times (`None`: until the server lets
      us through, as the server is telling us it is fine, just busy); their wait comes from the
      `Retry-After`/`RateLimit-Reset`/`X-RateLimit-Reset` headers when present, else the backoff.
    * The n-th backoff is `min(max_delay, base_delay * 2**(n-1))`, of which a random fraction up
      to `jitter` is taken off, so that concurrent tasks don't retry in lockstep.
    * `max_server_wait` caps what a server-provided wait may ask for (guards against bogus
      reset headers).

    With the defaults, a request that keeps failing (a host that refuses connections, a 5xx
    that doesn't clear) is tried 8 times and gives up after about 1 to 2 minutes of backoff
    (1 + 2 + … + 32 + 60 s, less up to half of each for jitter) — long enough to ride out a
    brief outage in a capture. Each attempt may also spend up to the session's connect timeout
    (`HTTPMixin.default_timeout`, 60 s) on a host that doesn't answer at all. Where a quick
    answer matters more, e.g. in `validate` where a user waits on a wrong URL, set a smaller
    policy first: `self.retry_policy = RetryPolicy(max_attempts=2)`.
    """

    max_attempts: int = 8
    base_delay: float = 1.0
    max_delay: float = 60.0
    jitter: float = 0.5
    max_rate_limit_retries: int | None = None
    max_server_wait: float = 3600.0
    rng: random.Random = field(default_factory=random.Random, repr=False)

    def backoff(self, attempt: int) -> float:
        """The wait before retry number `attempt` (1-based)."""
        delay = min(self.max_delay, self.base_delay * (2 ** max(0, attempt - 1)))
        if self.jitter:
            delay *= 1.0 - self.jitter * self.rng.random()
        return delay
