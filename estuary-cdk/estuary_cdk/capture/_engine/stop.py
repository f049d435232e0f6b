"""Stopping the capture at a future time (so the runtime restarts it, e.g. for a schedule)."""

from datetime import datetime

from ..task import Task
from . import clock


async def scheduled_stop(task: Task, future_dt: datetime | None) -> None:
    """Ask the capture to stop gracefully at ``future_dt``; returns early if it stops first."""
    if future_dt is None:
        return
    if await clock.wait_for_stop(task.stopping.event, future_dt - clock.now()):
        return
    task.log.info("stopping for a scheduled re-initialization", {"at": future_dt})
    task.stopping.event.set()
