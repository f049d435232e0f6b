"""Cron helpers used by scheduled re-backfills (``ResourceConfigWithSchedule``).

A capture restarts at least every ``CONNECTOR_RESTART_INTERVAL``, so schedules are only ever
evaluated over a bounded window; walking it minute by minute is cheap and keeps cron semantics
entirely in ``pycron``.
"""

from datetime import UTC, datetime, timedelta

import pycron  # type: ignore[import-untyped]

__all__ = ["CONNECTOR_RESTART_INTERVAL", "SMALLEST_CRON_INCREMENT", "next_fire"]

CONNECTOR_RESTART_INTERVAL = timedelta(hours=24)
SMALLEST_CRON_INCREMENT = timedelta(minutes=1)


def next_fire(
    cron_expression: str,
    start: datetime,
    end: datetime | None = None,
) -> datetime | None:
    """Return the first minute strictly after ``start`` (truncated to the minute) and no later
    than ``end`` that matches ``cron_expression``, or ``None`` if there is none (or the expression
    is empty).

    ``end`` defaults to *now* + ``CONNECTOR_RESTART_INTERVAL``, computed on every call (the
    reference computed it once, at import time, which drifts in long-lived processes). ``end`` is
    inclusive so that ``next_fire(expr, last, now)`` ("was a fire missed?") and
    ``next_fire(expr, now)`` ("when is the next one?") cover every minute exactly once.
    """
    if not cron_expression:
        return None
    if end is None:
        end = datetime.now(tz=UTC) + CONNECTOR_RESTART_INTERVAL

    dt = start.replace(second=0, microsecond=0) + SMALLEST_CRON_INCREMENT
    while dt <= end:
        if pycron.is_now(cron_expression, dt):
            return dt
        dt += SMALLEST_CRON_INCREMENT
    return None
