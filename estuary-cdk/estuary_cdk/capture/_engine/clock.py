"""The engine's only source of time and of timed waits.

Tests replace ``now`` (and, if needed, ``wait_for_stop``) on this module to control time
without sleeping; the engine always calls them through the module attribute.
"""

import asyncio
from datetime import UTC, datetime, timedelta


def now() -> datetime:
    """The current time as an aware UTC datetime."""
    return datetime.now(tz=UTC)


async def wait_for_stop(event: asyncio.Event, delay: timedelta) -> bool:
    """Wait until ``event`` is set or ``delay`` elapses; return True if the event is set.

    A non-positive delay still yields to the event loop once, so that tight loops built on it
    never starve other tasks.
    """
    seconds = delay.total_seconds()
    if seconds <= 0 or event.is_set():
        await asyncio.sleep(0)
        return event.is_set()
    try:
        async with asyncio.timeout(seconds):
            await event.wait()
    except TimeoutError:
        return event.is_set()
    return True
