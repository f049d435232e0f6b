"""Injectable time for the HTTP layer, so tests never wait through real backoffs."""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    """`monotonic()` times intervals (backoffs, token lifetimes, budgets); `time()` is the wall
    clock in epoch seconds (to read `Retry-After` dates and epoch reset headers); `sleep` waits.
    `estuary_cdk.testing.FakeClock` implements it without waiting."""

    def monotonic(self) -> float: ...

    def time(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock."""

    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


SYSTEM_CLOCK = SystemClock()
