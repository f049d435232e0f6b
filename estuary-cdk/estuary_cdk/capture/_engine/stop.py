"""Waiting on the task's clock until a time or a stop, and stopping the capture at a future time
(so the runtime restarts it, e.g. for a schedule)."""

import asyncio
from datetime import datetime, timedelta

from ...http._clock import Clock
from ..task import Task


async def wait_for_stop(clock: Clock, event: asyncio.Event, delay: timedelta) -> bool:
    """Wait on `clock` until `event` is set or `delay` elapses; True if the event is set.

    Every wait goes through `clock.sleep` (a zero one for a non-positive delay, which still
    yields to the event loop once so tight loops never starve other tasks): a test's fake clock
    sees, and decides, every wait of the engine.
    """
    if event.is_set():
        await asyncio.sleep(0)
        return True
    seconds = max(0.0, delay.total_seconds())
    if seconds == 0:
        await clock.sleep(0)
        return event.is_set()
    stopped = asyncio.ensure_future(event.wait())
    slept = asyncio.ensure_future(clock.sleep(seconds))
    try:
        await asyncio.wait((stopped, slept), return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
        slept.cancel()
    return event.is_set()


async def scheduled_stop(task: Task, future_dt: datetime | None) -> None:
    """Ask the capture to stop gracefully at ``future_dt``; returns early if it stops first."""
    if future_dt is None:
        return
    if await wait_for_stop(task.clock, task.stopping.event, future_dt - task.clock.now()):
        return
    task.log.info("stopping for a scheduled re-initialization", {"at": future_dt})
    task.stopping.event.set()
