"""Server-side time for fake APIs: what "now" is for the records a fake stores and the windows
it answers, moved by tests without waiting.

A connector under test reads its own clock (the system clock when it runs as a process, a
`FakeClock` when a test drives it in-process). A fake API that stamps records, expires tokens
or lags its search index must agree with that clock, and tests must be able to jump it forward
(an hour-long horizon, a token's lifetime) in an instant. `ApiClock` follows a source clock plus
an offset the test moves, or stands still when frozen.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Protocol

__all__ = ["ApiClock", "TimeSource", "ms_to_datetime"]


class TimeSource(Protocol):
    """Anything with a wall clock in epoch seconds: `time` (the module), `SYSTEM_CLOCK`, a
    `FakeClock` shared with the connector's HTTP session."""

    def time(self) -> float: ...


class _SystemTime:
    def time(self) -> float:
        import time

        return time.time()


def ms_to_datetime(ms: int) -> datetime:
    """An epoch-millisecond timestamp as an aware UTC datetime."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


class ApiClock:
    """A fake API's clock, in epoch milliseconds (what most APIs stamp records with).

    * Following (default): `source.time()` (real time unless a `FakeClock` is given) plus an
      offset; `advance(ms)` moves the offset, so an hour passes at once and real time keeps
      running on top of it.
    * Frozen: `freeze()` stops time at the current instant (or `at`); `advance` still moves it.
      Tests that assert exact timestamps freeze the clock.

    Thread-safe: the fake API may run in a server thread while a test moves time.

        clock = ApiClock()                 # real time
        clock.advance(3_600_000)           # an hour later, at once
        clock = ApiClock(source=fake)      # shares a FakeClock with an in-process connector
    """

    def __init__(self, source: TimeSource | None = None, *, frozen_at: datetime | int | None = None) -> None:
        self._source: TimeSource = source or _SystemTime()
        self._offset_ms = 0
        self._frozen_ms: int | None = None
        self._lock = threading.Lock()
        if frozen_at is not None:
            self.freeze(frozen_at)

    def now_ms(self) -> int:
        with self._lock:
            if self._frozen_ms is not None:
                return self._frozen_ms
            return int(self._source.time() * 1000) + self._offset_ms

    def now(self) -> datetime:
        return ms_to_datetime(self.now_ms())

    def time(self) -> float:
        """Epoch seconds (so an `ApiClock` is itself a `TimeSource`)."""
        return self.now_ms() / 1000

    @property
    def frozen(self) -> bool:
        return self._frozen_ms is not None

    def advance(self, ms: int) -> int:
        """Move time forward by `ms` milliseconds; returns the new now."""
        if ms < 0:
            raise ValueError("an API clock only moves forward (records would be stamped in the past)")
        with self._lock:
            if self._frozen_ms is not None:
                self._frozen_ms += ms
            else:
                self._offset_ms += ms
        return self.now_ms()

    def freeze(self, at: datetime | int | None = None) -> int:
        """Stop time at `at` (a datetime or epoch ms; default: now); returns it."""
        value = self.now_ms() if at is None else _to_ms(at)
        with self._lock:
            self._frozen_ms = value
        return value

    def unfreeze(self) -> None:
        """Follow the source again from the frozen instant (time does not jump)."""
        with self._lock:
            if self._frozen_ms is None:
                return
            self._offset_ms = self._frozen_ms - int(self._source.time() * 1000)
            self._frozen_ms = None


def _to_ms(value: datetime | int) -> int:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("an API clock needs an aware datetime")
        return int(value.timestamp() * 1000)
    return int(value)
