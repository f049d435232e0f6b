"""Server-side rate limits for fake APIs: token buckets per caller and per request class.

Real APIs limit each credential separately, and often give some endpoints a bucket of their own
(HubSpot: 110 requests per 10 s in general, 5 per second for search). A fake that enforces the
documented numbers lets a test or a benchmark show that a connector stays under them, and how
close to them it runs. `RateBuckets.take` decides one request and says what a server would put
in its rate-limit headers.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass

from ._api_clock import TimeSource

__all__ = ["BucketLimit", "RateBuckets", "RateVerdict"]


@dataclass(frozen=True)
class BucketLimit:
    """`requests` per `per_seconds`, as a token bucket that starts full (a burst of `requests`
    goes through at once, then `requests / per_seconds` per second)."""

    requests: int
    per_seconds: float

    def __post_init__(self) -> None:
        if self.requests < 1 or self.per_seconds <= 0:
            raise ValueError(f"invalid bucket limit {self.requests}/{self.per_seconds}s")

    @property
    def interval_ms(self) -> int:
        return int(self.per_seconds * 1000)


@dataclass(frozen=True)
class RateVerdict:
    """One request's outcome: `allowed`, the tokens left (`remaining`, for headers), the limit
    that applied, and `retry_after` seconds until one token is back (0 when allowed)."""

    allowed: bool
    remaining: int
    limit: BucketLimit | None
    retry_after: float


class _Bucket:
    __slots__ = ("limit", "tokens", "updated")

    def __init__(self, limit: BucketLimit, now: float) -> None:
        self.limit = limit
        self.tokens = float(limit.requests)
        self.updated = now

    def refill(self, now: float) -> None:
        rate = self.limit.requests / self.limit.per_seconds
        self.tokens = min(float(self.limit.requests), self.tokens + max(0.0, now - self.updated) * rate)
        self.updated = now


class RateBuckets:
    """Token buckets keyed by (caller, group): each caller (a token, an account) has its own
    bucket per group (`"general"`, `"search"`, ...), sized by `limits[group]`. A group without a
    limit is unlimited. Limits can be changed while the server runs (`set_limit`), e.g. switched
    off for a test and on for a benchmark.

        buckets = RateBuckets({"general": BucketLimit(110, 10), "search": BucketLimit(5, 1)})
        verdict = buckets.take(token, "search")
        if not verdict.allowed:
            return web.json_response({...}, status=429)

    `allowed` and `refused` count decisions per group (what a benchmark reports as 429s).
    """

    def __init__(self, limits: dict[str, BucketLimit] | None = None, clock: TimeSource | None = None) -> None:
        from ._api_clock import _SystemTime

        self._limits: dict[str, BucketLimit] = dict(limits or {})
        self._clock: TimeSource = clock or _SystemTime()
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        self._lock = threading.Lock()
        self.allowed: Counter[str] = Counter()
        self.refused: Counter[str] = Counter()

    def limit(self, group: str) -> BucketLimit | None:
        return self._limits.get(group)

    def set_limit(self, group: str, limit: BucketLimit | None) -> None:
        """Change (or with None remove) a group's limit; its buckets start full again."""
        with self._lock:
            if limit is None:
                self._limits.pop(group, None)
            else:
                self._limits[group] = limit
            self._buckets = {k: b for k, b in self._buckets.items() if k[1] != group}

    def take(self, caller: str, group: str) -> RateVerdict:
        """Decide one request of `caller` in `group`, taking a token when it is allowed."""
        with self._lock:
            limit = self._limits.get(group)
            if limit is None:
                self.allowed[group] += 1
                return RateVerdict(True, 0, None, 0.0)
            now = self._clock.time()
            bucket = self._buckets.get((caller, group))
            if bucket is None:
                bucket = self._buckets[(caller, group)] = _Bucket(limit, now)
            bucket.refill(now)
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                self.allowed[group] += 1
                return RateVerdict(True, int(bucket.tokens), limit, 0.0)
            self.refused[group] += 1
            wait = (1.0 - bucket.tokens) * limit.per_seconds / limit.requests
            return RateVerdict(False, 0, limit, wait)

    def reset_counts(self) -> None:
        with self._lock:
            self.allowed.clear()
            self.refused.clear()
