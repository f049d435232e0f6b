"""Waits on the network with a deadline, announced in the connector status while they last.

These are real-time waits (the event loop's clock, not the session's injectable `Clock`): what
is awaited is a socket. Every request makes a few of them, so a wait is watched by one timer
(`Watch`) that first announces and then cancels, rather than a timeout scope plus a separate
announcement timer.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from ._events import status_event
from ._limits import HTTPLimits, format_duration
from ._spec import RequestSpec
from ._transport import WaitExpired

T = TypeVar("T")


class Watch:
    """Watches the current task's wait: calls `announce` at loop time `announce_at` (if that
    comes before `deadline`), and cancels the task at `deadline`.

    `stop()` ends the watch and tells whether the deadline ended the wait, in which case the
    cancellation it caused is consumed (the caller raises its own error instead), exactly as
    `asyncio.timeout` does; a cancellation from elsewhere is left alone.
    """

    __slots__ = ("_announce", "_cancelling", "_deadline", "_handle", "_loop", "_stopped", "_task", "expired")

    def __init__(
        self, deadline: float, announce_at: float | None = None, announce: Callable[[], None] | None = None
    ) -> None:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("a Watch must be created inside a task")
        self._loop = loop
        self._task = task
        self._cancelling = task.cancelling()
        self._deadline = deadline
        first = deadline
        self._announce: Callable[[], None] | None = None
        if announce is not None and announce_at is not None and announce_at < deadline:
            first, self._announce = announce_at, announce
        self._stopped = False
        self.expired = False
        self._handle = loop.call_at(first, self._fire)

    def _fire(self) -> None:
        if self._announce is not None:
            announce, self._announce = self._announce, None
            self._handle = self._loop.call_at(self._deadline, self._fire)
            announce()
            return
        self.expired = True
        self._task.cancel()

    def stop(self) -> bool:
        """Stop watching (idempotent); whether the deadline ended the wait."""
        if self._stopped:
            return False
        self._stopped = True
        self._handle.cancel()
        return self.expired and self._task.uncancel() <= self._cancelling


async def await_headers(
    log: logging.Logger, spec: RequestSpec, limits: HTTPLimits, sending: Awaitable[T]
) -> T:
    """`sending` (connect, send, receive the response headers) within `limits.headers_timeout`,
    announced once it took `limits.status_after`. Raises `WaitExpired` at the deadline."""
    deadline = limits.headers_timeout

    def waiting() -> None:
        status_event(
            log,
            f"waiting for a response from {spec.scrubbed_url()}: none for {format_duration(limits.status_after)} "
            f"so far (gives up after {format_duration(deadline)})",
        )

    now = asyncio.get_running_loop().time()
    watch = Watch(now + deadline, now + limits.status_after, waiting)
    try:
        return await sending
    except asyncio.CancelledError:
        if watch.stop():
            raise WaitExpired(f"no response headers within {format_duration(deadline)}") from None
        raise
    finally:
        watch.stop()
