"""Saying when and why a binding waits before its next poll.

A binding with `interval: PT5M` may sit silent for minutes (an incremental poll that found
nothing, a snapshot between passes, the first poll of a session whose cursor is recent), and a
capture that is quiet for minutes looks hung. So every wait is announced with its length, the
interval behind it and the reason: at INFO when it is long enough for someone to wonder
(`INFO_WAIT` or more), at DEBUG when it is not, so sub-second intervals do not flood the log.
"""

from datetime import datetime, timedelta
from logging import DEBUG, INFO, Logger
from typing import Any

from pydantic_core import to_jsonable_python

__all__ = ["INFO_WAIT", "describe_binding", "human_duration", "iso_duration", "log_next_poll"]

INFO_WAIT = timedelta(seconds=10)
"""Waits at least this long are logged at INFO; shorter ones at DEBUG."""

_UNITS = (("d", 86400), ("h", 3600), ("m", 60))


def human_duration(delay: timedelta) -> str:
    """`delay` as people write it: "0.2s", "12s", "4m54s", "5m", "1h30m", "2d3h"."""
    seconds = delay.total_seconds()
    if seconds < 10:
        return f"{seconds:.3g}s"
    rest = round(seconds)
    parts: list[str] = []
    for unit, size in _UNITS:
        if rest >= size:
            parts.append(f"{rest // size}{unit}")
            rest %= size
    if rest or not parts:
        parts.append(f"{rest}s")
    # Two units say enough ("1d2h", not "1d2h3m4s").
    return "".join(parts[:2])


def iso_duration(delay: timedelta) -> str:
    """`delay` as ISO 8601 (how resource configs write intervals: "PT5M")."""
    return str(to_jsonable_python(delay))


def describe_binding(binding: Any, subtask_id: str | None) -> str:
    """How log lines name a binding: its resource path ("items", "acme.items"), and the subtask."""
    name = ".".join(binding.resourceConfig.path())
    return name if subtask_id is None else f"{name} (subtask {subtask_id})"


def log_next_poll(
    log: Logger,
    what: str,
    delay: timedelta,
    interval: timedelta,
    now: datetime,
    reason: str,
    fields: dict[str, Any],
) -> None:
    """Announce a wait of `delay` before the next poll of `what` (nothing for no wait)."""
    if delay <= timedelta():
        return
    level = INFO if delay >= INFO_WAIT else DEBUG
    if not log.isEnabledFor(level):
        return
    why = f"interval {iso_duration(interval)}" + (f"; {reason}" if reason else "")
    log.log(
        level,
        f"next poll of {what} in {human_duration(delay)} ({why})",
        {**fields, "sleep_for": delay, "next_poll_at": now + delay, "interval": interval},
        stacklevel=2,
    )
