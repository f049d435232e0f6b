"""A fake clock for tests: sleeping advances time instantly and is recorded."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime


class FakeClock:
    """Implements the HTTP layer's `Clock` protocol (`monotonic()`, `time()`, `async sleep()`)
    without ever waiting: `sleep(s)` records `s` in `sleeps`, moves both clocks forward by `s`
    and yields to the event loop once. `advance(s)` moves time without recording a sleep (e.g.
    to make a token expire mid-run).

        clock = FakeClock()
        session = HTTPSession(clock=clock)   # or HTTPMixin(...) with .clock = clock
        ...
        assert clock.sleeps == [1.0, 2.0]
    """

    def __init__(self, start: datetime | None = None) -> None:
        self._wall = (start or datetime(2030, 1, 1, tzinfo=UTC)).timestamp()
        self._mono = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self._mono

    def time(self) -> float:
        return self._wall

    def now(self) -> datetime:
        """The wall clock as an aware UTC datetime."""
        return datetime.fromtimestamp(self._wall, tz=UTC)

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a monotonic clock cannot go backwards; use set_time() for the wall clock")
        self._mono += seconds
        self._wall += seconds

    def set_time(self, wall: datetime | float) -> None:
        """Move the wall clock (only) to `wall`, e.g. to sign JWTs a real server will check."""
        self._wall = wall.timestamp() if isinstance(wall, datetime) else float(wall)

    async def sleep(self, seconds: float) -> None:
        seconds = max(0.0, seconds)
        self.sleeps.append(seconds)
        self.advance(seconds)
        await asyncio.sleep(0)

    @property
    def slept(self) -> float:
        """Total seconds slept so far."""
        return sum(self.sleeps)
