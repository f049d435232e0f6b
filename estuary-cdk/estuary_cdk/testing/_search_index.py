"""A fake API's search index: eventually consistent (writes show up `lag` after they were made)
and capped (no page past a fixed number of results), the two properties of real search APIs
that make incremental capture over them hard.

`LaggedIndex` keeps, per key, the sort value a query sees: the newest write made at least
`lag_ms` before the query. Range queries cost a bisection plus the writes still settling, so a
fake holding tens of thousands of records answers thousands of queries in a test.
`offset_page` pages a result list by numeric offset and refuses pages past the cap, as a search
API does with a 400.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["LaggedIndex", "ResultCapExceeded", "offset_page"]

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")


class ResultCapExceeded(ValueError):
    """A page was asked for past the query's result cap (`after + limit > cap`)."""

    def __init__(self, after: int, limit: int, cap: int) -> None:
        super().__init__(f"after + limit = {after + limit} is past the result cap of {cap}")
        self.after, self.limit, self.cap = after, limit, cap


def offset_page(rows: Sequence[T], after: int, limit: int, cap: int | None) -> tuple[list[T], int | None]:
    """Rows `after .. after+limit` and the next offset (None on the last page). With a `cap`,
    asking for a page that reaches past it raises `ResultCapExceeded`, and no next offset is
    offered past it (the caller sees where results stop)."""
    if after < 0 or limit < 1:
        raise ValueError(f"invalid page after={after} limit={limit}")
    if cap is not None and after + limit > cap:
        raise ResultCapExceeded(after, limit, cap)
    page = list(rows[after : after + limit])
    following = after + limit
    more = following < len(rows) and (cap is None or following < cap)
    return page, following if more else None


@dataclass(frozen=True)
class _Write(Generic[K]):
    at_ms: int
    key: K
    value: int | None  # None: a deletion


class LaggedIndex(Generic[K]):
    """Keys sorted by an integer value (e.g. a last-modified time in ms), as a search index
    shows them `lag_ms` after each write.

        index = LaggedIndex[int](lag_ms=5_000)
        index.write(42, value=updated_ms, at_ms=now)
        index.range(lo, hi, now_ms=now)          # 42 only once now >= write time + 5 s

    A key whose newest write is still settling is found under its previous value (the stale
    slot a real index keeps for a while). Queries must come with a non-decreasing `now_ms`
    (the fake's clock only moves forward); settling is done lazily by each query. Thread-safe.
    """

    def __init__(self, lag_ms: int = 0) -> None:
        self.lag_ms = lag_ms
        self._sorted: list[tuple[int, K]] = []  # settled (value, key), ascending
        self._settled: dict[K, int] = {}
        self._pending: list[_Write[K]] = []  # in write order (non-decreasing at_ms)
        self._lock = threading.Lock()

    def write(self, key: K, value: int, at_ms: int) -> None:
        """Record that `key` now sorts at `value`, written at `at_ms`."""
        with self._lock:
            self._pending.append(_Write(at_ms, key, value))
            if self.lag_ms <= 0:
                self._settle_locked(at_ms)

    def delete(self, key: K, at_ms: int) -> None:
        with self._lock:
            self._pending.append(_Write(at_ms, key, None))
            if self.lag_ms <= 0:
                self._settle_locked(at_ms)

    def load(self, items: Sequence[tuple[K, int]]) -> None:
        """Bulk-load settled entries (a data set that predates the test), replacing any."""
        with self._lock:
            self._settled = dict(items)
            self._sorted = sorted((v, k) for k, v in self._settled.items())
            self._pending.clear()

    def value(self, key: K, now_ms: int) -> int | None:
        """What a query at `now_ms` sees as `key`'s value (None: not in the index)."""
        with self._lock:
            self._settle_locked(now_ms - self.lag_ms)
            return self._settled.get(key)

    def range(self, lo: int, hi: int, now_ms: int) -> list[tuple[int, K]]:
        """(value, key) of every key with `lo <= value <= hi` as seen at `now_ms`, ascending."""
        with self._lock:
            self._settle_locked(now_ms - self.lag_ms)
            start = bisect.bisect_left(self._sorted, (lo,))
            out: list[tuple[int, K]] = []
            for item in self._sorted[start:]:
                if item[0] > hi:
                    break
                out.append(item)
            return out

    def __len__(self) -> int:
        with self._lock:
            return len(self._settled)

    def _settle_locked(self, until_ms: int) -> None:
        if not self._pending or self._pending[0].at_ms > until_ms:
            return
        cut = 0
        for cut, w in enumerate(self._pending):  # noqa: B007 -- `cut` is used after the loop
            if w.at_ms > until_ms:
                break
        else:
            cut = len(self._pending)
        done, self._pending = self._pending[:cut], self._pending[cut:]
        for w in done:
            old = self._settled.pop(w.key, None)
            if old is not None:
                i = bisect.bisect_left(self._sorted, (old, w.key))
                if i < len(self._sorted) and self._sorted[i] == (old, w.key):
                    del self._sorted[i]
            if w.value is not None:
                self._settled[w.key] = w.value
                bisect.insort(self._sorted, (w.value, w.key))
