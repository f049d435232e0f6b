"""An event clock for benchmarks that run a connector and its fake API in one event loop.

Why not `FakeClock(real_time=True)` (time-lapse)? It skips a sleep by moving time forward at
once, so a wait and the work other tasks do meanwhile add up instead of overlapping, and the
fake API's own CPU (on a shared machine, most of the process's) runs on the same timeline as
the connector's. A rate-limited backfill then measures the machine's load, not the connector:
issue 14's benchmark read 48% of what the limits allow at load 7 and 99% at load 0.5, with the
same code.

`EventClock` is a discrete-event clock over real time:

* time runs with real time, so the connector's own work counts as it would;
* a `sleep` really waits (on a future), and when every task is waiting (the loop has nothing
  to run and no socket to read: `JumpingSelector`), time jumps to the earliest sleeper's
  deadline, so waits overlap with work exactly as they would, without being sat through;
* `hold()` stops time while the fake API handles a request (HubSpot's servers do that work,
  not the connector's machine); `held_turns` counts loop turns taken while held (a handler that
  awaited), which would let other work run uncounted: 0 means the accounting is exact;
* `latency_middleware(seconds)` delays every response by a modeled server latency, as a sleep
  that overlaps with the connector's work like a real one.

    clock = EventClock()
    with asyncio.Runner(loop_factory=clock.loop_factory) as runner:
        runner.run(main(clock))
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import selectors
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_SETTLE = 0.0002
"""Real seconds the selector polls before jumping, so a loopback write in flight is seen."""


class EventClock:
    """The kit's `Clock` protocol (and a fake API's `TimeSource`) on a discrete-event timeline."""

    def __init__(self, start: datetime | None = None) -> None:
        self._real0 = time.monotonic()
        self._wall0 = (start or datetime(2030, 1, 1, tzinfo=UTC)).timestamp()
        self._jumped = 0.0
        self._held = 0.0
        self._hold_start: float | None = None
        self._depth = 0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self.jumps = 0.0
        """Seconds skipped: time every task spent waiting, jumped over."""
        self.held_turns = 0

    # --- the Clock protocol --------------------------------------------------------------------

    def _elapsed(self) -> float:
        real = (self._hold_start if self._hold_start is not None else time.monotonic()) - self._real0
        return real - self._held + self._jumped

    def monotonic(self) -> float:
        return 1000.0 + self._elapsed()

    def time(self) -> float:
        return self._wall0 + self._elapsed()

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.time(), tz=UTC)

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.monotonic() + seconds, next(self._order), future))
        await future

    # --- accounting ----------------------------------------------------------------------------

    @property
    def held(self) -> float:
        """Real seconds excluded from the timeline by `hold` (the fake's work)."""
        return self._held

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        """Stop time for the block (re-entrant)."""
        self._depth += 1
        if self._depth == 1:
            self._hold_start = time.monotonic()
        try:
            yield
        finally:
            self._depth -= 1
            if self._depth == 0 and self._hold_start is not None:
                self._held += time.monotonic() - self._hold_start
                self._hold_start = None

    def hold_middleware(self) -> Any:
        @web.middleware
        async def held(request: web.Request, handler: Handler) -> web.StreamResponse:
            with self.hold():
                return await handler(request)

        return held

    def latency_middleware(self, seconds: float) -> Any:
        @web.middleware
        async def latency(request: web.Request, handler: Handler) -> web.StreamResponse:
            response = await handler(request)
            await self.sleep(seconds)
            return response

        return latency

    # --- the event loop's side -----------------------------------------------------------------

    def _wake_due(self) -> bool:
        now, woke = self.monotonic(), False
        while self._sleepers and (self._sleepers[0][0] <= now or self._sleepers[0][2].done()):
            _, _, future = heapq.heappop(self._sleepers)
            if not future.done():
                future.set_result(None)
                woke = True
        return woke

    def _jump(self) -> bool:
        """Every task waits: move time to the earliest deadline and wake who is due."""
        while self._sleepers and self._sleepers[0][2].done():
            heapq.heappop(self._sleepers)
        if not self._sleepers:
            return False
        gap = self._sleepers[0][0] - self.monotonic()
        if gap > 0:
            self._jumped += gap
            self.jumps += gap
        return self._wake_due()

    def loop_factory(self) -> asyncio.AbstractEventLoop:
        return asyncio.SelectorEventLoop(JumpingSelector(self))


class JumpingSelector(selectors.DefaultSelector):
    """The event loop's selector: when the loop would block (nothing ready to run, no socket
    ready), it lets `EventClock` jump instead of waiting for real time."""

    def __init__(self, clock: EventClock) -> None:
        super().__init__()
        self.clock = clock

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if self.clock._depth:
            self.clock.held_turns += 1
        woke = self.clock._wake_due()
        if woke or timeout == 0:
            return super().select(0)
        ready = super().select(_SETTLE if timeout is None else min(timeout, _SETTLE))
        if ready or self.clock._jump():
            return ready
        # Nothing sleeps on this clock: wait for real I/O or the loop's own timers.
        return super().select(None if timeout is None else max(0.0, timeout - _SETTLE))
