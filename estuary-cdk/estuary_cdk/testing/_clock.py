"""A fake clock for tests: sleeps are recorded and never wait for real time."""

from __future__ import annotations

import asyncio
import math
import time
from datetime import UTC, datetime


class FakeClock:
    """Implements the HTTP layer's `Clock` protocol (`monotonic()`, `time()`, `async sleep()`)
    without ever waiting for real time. Every `sleep(s)` is recorded in `sleeps`.

    * Auto mode (default): `sleep(s)` moves both clocks forward by `s` and yields to the event
      loop once — backoffs and rate-limit waits take no time at all.
    * Manual mode (`auto_advance=False`): `sleep(s)` blocks until the test moves time past its
      deadline with `advance()`, so a test can observe tasks *while* they wait (e.g. that no
      request goes out during a rate-limit pause), then release them.

    `advance(s)` moves time forward without recording a sleep (e.g. to make a token expire
    mid-run); `set_time(wall)` moves only the wall clock.

    `FakeClock(real_time=True)` is a time-lapse clock: it runs with real time as well, and each
    sleep returns at once but moves it forward, so `monotonic()` is the timeline a request would
    have had (its real network waits plus every skipped sleep) without waiting through the
    sleeps (benchmarks of time to an error use it).

        clock = FakeClock()
        async with open_http_session(clock=clock) as http:
            ...
        assert clock.sleeps == [1.0, 2.0]
    """

    def __init__(
        self, start: datetime | None = None, *, auto_advance: bool = True, real_time: bool = False
    ) -> None:
        self._wall = (start or datetime(2030, 1, 1, tzinfo=UTC)).timestamp()
        self._mono = 1000.0
        self.auto_advance = auto_advance
        if real_time and not auto_advance:
            raise ValueError("a time-lapse clock (real_time=True) advances by itself: it has no manual mode")
        self._real_start = time.monotonic() if real_time else None
        self.sleeps: list[float] = []
        self._waiters: list[tuple[float, asyncio.Future[None]]] = []

    def monotonic(self) -> float:
        return self._mono + self._real_elapsed()

    def time(self) -> float:
        return self._wall + self._real_elapsed()

    def _real_elapsed(self) -> float:
        return 0.0 if self._real_start is None else time.monotonic() - self._real_start

    def now(self) -> datetime:
        """The wall clock as an aware UTC datetime."""
        return datetime.fromtimestamp(self.time(), tz=UTC)

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a monotonic clock cannot go backwards; use set_time() for the wall clock")
        self._mono += seconds
        self._wall += seconds
        due = [w for w in self._waiters if w[0] <= self._mono]
        self._waiters = [w for w in self._waiters if w[0] > self._mono]
        for _, fut in due:
            if not fut.done():
                fut.set_result(None)

    def set_time(self, wall: datetime | float) -> None:
        """Move the wall clock (only) to `wall`, e.g. to sign JWTs a real server will check."""
        self._wall = wall.timestamp() if isinstance(wall, datetime) else float(wall)

    @property
    def sleeping(self) -> int:
        """How many tasks are blocked in `sleep` (manual mode)."""
        return sum(1 for _, fut in self._waiters if not fut.done())

    async def sleep(self, seconds: float) -> None:
        seconds = max(0.0, seconds)
        self.sleeps.append(seconds)
        if self.auto_advance:
            # A sleep too short to change the clock's float (2e-14 s at 1000 s) still moves it
            # by its smallest step: a loop that sleeps until time has passed must get there.
            self.advance(
                max(seconds, math.nextafter(self._mono, math.inf) - self._mono) if seconds > 0 else 0.0
            )
            await asyncio.sleep(0)
            return
        deadline = self._mono + seconds
        if deadline <= self._mono:
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((deadline, fut))
        await fut

    @property
    def slept(self) -> float:
        """Total seconds slept so far."""
        return sum(self.sleeps)
