"""Injectable time for the kit (the HTTP layer, the capture engine, connectors), so tests never
wait through real backoffs or schedules."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    """`monotonic()` times intervals (backoffs, token lifetimes, budgets); `time()` is the wall
    clock in epoch seconds (to read `Retry-After` dates and epoch reset headers); `now()` is that
    wall clock as an aware UTC datetime (cursors, schedules, token expiry); `sleep` waits.
    `estuary_cdk.testing.FakeClock` implements it without waiting."""

    def monotonic(self) -> float: ...

    def time(self) -> float: ...

    def now(self) -> datetime: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock."""

    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()

    def now(self) -> datetime:
        return datetime.now(tz=UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


SYSTEM_CLOCK = SystemClock()
