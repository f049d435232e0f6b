"""The realtime + delayed pair of change streams (hubspot.md §2.4).

HubSpot's fast change APIs and its search index near the present are eventually consistent:
a change can show up after newer ones were read, or not at all for a while. One cursor over
them loses rows. So each binding has two incremental subtasks over the same changes:

* `realtime` reads the fast APIs from its cursor to now (at most `MAX_WINDOW` at a time) and
  emits within a poll, best effort;
* `delayed` reads `(cursor, min(now - lag, cursor + MAX_WINDOW)]`, where everything has
  settled, completely, with a checkpoint after each listed window; it waits until at least
  `min_window` has accumulated so it polls in steps rather than in a hot loop.

Both record what they emitted in `emitted_changes_cache` (key -> newest timestamp), so the
delayed stream skips what realtime already emitted at the same or a newer time; the delayed
stream forgets entries as its cursor passes them. The cache is in memory: after a restart the
delayed stream emits again what realtime emitted in the lag window before it (at least once;
collections reduce by key).

Listers yield `Window`s: the changes listed up to `upper`, complete up to it. A hydrator turns
listed changes into documents (a batch read for CRM objects; the document itself when the
listing carries it).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import estuary_cdk.emitted_changes_cache as cache
from estuary_cdk.http import Clock

REALTIME = "realtime"
DELAYED = "delayed"
MAX_WINDOW = timedelta(hours=1)
"""The widest window either stream reads in one poll (a capture back from a long downtime
catches up in steps that each end in a checkpoint, 146d29d2e)."""


@dataclass(frozen=True)
class Listed:
    """A change: its key, when it happened (ms precision) and, when the listing carries it, the
    document itself."""

    ts: datetime
    key: int | str
    doc: Any = None


@dataclass
class Window:
    """Changes listed from the stream's lower bound up to `upper`, every one of them (for a
    delayed lister; a realtime lister may miss some)."""

    upper: datetime
    changes: list[Listed] = field(default_factory=list)


Lister = Callable[[logging.Logger, datetime, datetime | None], AsyncIterator[Window]]
"""`(log, since, until)`: the changes in `(since, until]` (`until` None: up to now)."""

Hydrator = Callable[[logging.Logger, list[Listed]], AsyncIterator[list[Any]]]
"""Documents of listed changes, in their order (leaving out those gone meanwhile)."""


async def carried(log: logging.Logger, changes: list[Listed]) -> AsyncIterator[list[Any]]:
    """The hydrator of listings that carry their documents."""
    yield [c.doc for c in changes]


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


def to_ms(when: datetime) -> int:
    """A datetime as epoch milliseconds, rounded down (HubSpot compares at ms precision)."""
    return (when - _EPOCH) // _MS


def from_ms(ms: int) -> datetime:
    return _EPOCH + ms * _MS


def parse_ts(value: Any) -> datetime:
    """HubSpot's timestamps: ISO 8601 strings or epoch milliseconds (ints or numeric strings)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return from_ms(int(value))
    text = str(value)
    if text.isdigit():
        return from_ms(int(text))
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _newest_per_key(changes: list[Listed], lower: datetime, upper: datetime | None) -> list[Listed]:
    """Changes in `(lower, upper]`, the newest one per key, oldest first."""
    newest: dict[int | str, Listed] = {}
    for c in changes:
        if c.ts <= lower or (upper is not None and c.ts > upper):
            continue
        seen = newest.get(c.key)
        if seen is None or c.ts > seen.ts:
            newest[c.key] = c
    return sorted(newest.values(), key=lambda c: (c.ts, str(c.key)))


async def _emit(
    name: str, changes: list[Listed], hydrate: Hydrator, log: logging.Logger
) -> AsyncIterator[Any]:
    fresh = [c for c in changes if cache.should_yield(name, c.key, c.ts)]
    if len(fresh) < len(changes):
        log.debug(
            "changes already emitted by the other stream",
            {"binding": name, "skipped": len(changes) - len(fresh)},
        )
    if fresh:
        async for docs in hydrate(log, fresh):
            for doc in docs:
                yield doc


async def realtime_changes(
    name: str, lister: Lister, hydrate: Hydrator, clock: Clock, log: logging.Logger, cursor: Any
) -> AsyncGenerator[Any, None]:
    """One realtime poll: changes after `cursor`, then the newest change's time as the cursor
    (or the window's end when it was capped). A poll that is caught up and finds nothing pauses
    `IDLE_PAUSE` before it returns."""
    now = clock.now()
    upper = cursor + MAX_WINDOW if now - cursor > MAX_WINDOW else None
    listed: list[Listed] = []
    async for window in lister(log, cursor, upper):
        listed.extend(window.changes)
    changes = _newest_per_key(listed, cursor, upper)
    async for doc in _emit(name, changes, hydrate, log):
        yield doc
    following = upper if upper is not None else (changes[-1].ts if changes else cursor)
    if following > cursor:
        yield following
    elif upper is None:
        # Nothing new. Returning at once, the engine (interval 0, the CRM default) polls again
        # at once: a binding's idle realtime polls took a third of the account's request budget
        # during a backfill (bench/hubspot_backfill.py, whole capture), starving every other read.
        await clock.sleep(IDLE_PAUSE.total_seconds())


async def delayed_changes(
    name: str,
    lister: Lister,
    hydrate: Hydrator,
    clock: Clock,
    lag: timedelta,
    log: logging.Logger,
    cursor: Any,
) -> AsyncGenerator[Any, None]:
    """One delayed poll over `(cursor, min(now - lag, cursor + MAX_WINDOW)]`, with a checkpoint
    after every window the lister completes; nothing until `min_window(lag)` has accumulated
    (a pause of at most `NOT_READY_PAUSE`, then no checkpoint)."""
    horizon = clock.now() - lag
    short = min_window(lag) - (horizon - cursor)
    if short > timedelta(0):
        # Too little has settled. Returning at once, the engine (interval 0) would call again at
        # once: a CPU spinning for up to 5 minutes (Estuary's 1fc4edc1f). Waiting here for all
        # of it would hold a stop that long. So pause a little, then return.
        await clock.sleep(min(short, NOT_READY_PAUSE).total_seconds())
        return
    upper = min(horizon, cursor + MAX_WINDOW)
    last = cursor
    async for window in lister(log, cursor, upper):
        async for doc in _emit(name, _newest_per_key(window.changes, cursor, upper), hydrate, log):
            yield doc
        if last < window.upper < upper:
            last = window.upper
            yield last
            cache.cleanup(name, last)
    yield upper
    cache.cleanup(name, upper)


IDLE_PAUSE = timedelta(seconds=5)
"""How long a realtime poll that found nothing new pauses before it returns: a change made
meanwhile is emitted at most this much later."""

NOT_READY_PAUSE = timedelta(seconds=10)
"""How long a delayed poll with too little settled to read pauses before it returns."""


def min_window(lag: timedelta) -> timedelta:
    """How much the delayed stream lets accumulate before a poll: 5 minutes behind an hour's lag
    (1fc4edc1f), proportionally less behind a shorter one (tests)."""
    return min(timedelta(minutes=5), lag / 12)
