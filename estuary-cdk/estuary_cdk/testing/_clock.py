"""A fake clock for tests: sleeps are recorded and never wait for real time."""

from __future__ import annotations

import asyncio
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

        clock = FakeClock()
        async with open_http_session(clock=clock) as http:
            ...
        assert clock.sleeps == [1.0, 2.0]
    """

    def __init__(self, start: datetime | None = None, *, auto_advance: bool = True) -> None:
        self._wall = (start or datetime(2030, 1, 1, tzinfo=UTC)).timestamp()
        self._mono = 1000.0
        self.auto_advance = auto_advance
        self.sleeps: list[float] = []
        self._waiters: list[tuple[float, asyncio.Future[None]]] = []

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
            self.advance(seconds)
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
