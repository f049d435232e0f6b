"""Bindings re-read with a look-back (contact lists, their memberships, campaigns; hubspot.md
§2.1, §2.4): HubSpot offers no consistent change feed for them, and their listings can show a
change late, so every poll lists what changed since an hour before the cursor, emits what the
emitted-changes cache has not seen at that time, and moves the cursor to the poll's start.

The cache forgets an entry once no poll can list it again. It lives in memory: after a restart
the first poll emits the look-back's changes again (at least once; collections reduce by key).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from datetime import datetime, timedelta
from typing import Any

import estuary_cdk.emitted_changes_cache as cache
from estuary_cdk.capture.common import BaseDocument, FetchPageFn, Resource, ResourceState
from estuary_cdk.http import Clock

from .api.dual import Listed
from .models import ResourceConfig
from .opening import opener

LOOKBACK = timedelta(hours=1)
_MS = timedelta(milliseconds=1)

Changes = Callable[[logging.Logger, datetime], AsyncIterator[Listed]]
"""`(log, since)`: the changes at or after `since`, each with its key, time and document (a
lister may list older ones too: they are skipped)."""


async def lookback_changes(
    name: str, changes: Changes, clock: Clock, log: logging.Logger, cursor: Any
) -> AsyncGenerator[Any, None]:
    """One poll: the changes since `cursor - LOOKBACK` not emitted yet, then the poll's start as
    the cursor."""
    start = clock.now()
    lower = cursor - LOOKBACK
    skipped = 0
    async for change in changes(log, lower):
        if change.ts < lower:
            continue
        if cache.should_yield(name, change.key, change.ts):
            yield change.doc
        else:
            skipped += 1
    if skipped:
        log.debug("changes already emitted", {"binding": name, "skipped": skipped})
    # No later poll lists a change before its lower bound, `start - LOOKBACK`.
    cache.cleanup(name, start - LOOKBACK - _MS)
    # The poll's start; a millisecond on should the clock have stepped back (a checkpoint must
    # follow what was emitted, and move forwards).
    yield max(start, cursor + _MS)


def lookback_resource(
    name: str,
    key: list[str],
    model: type[BaseDocument],
    fetch_page: FetchPageFn[Any],
    changes: Changes,
    clock: Clock,
    interval: timedelta,
) -> Resource[Any, ResourceConfig, ResourceState]:
    """A binding with a backfill of the rows before its cutoff and the look-back stream from it."""
    open = opener(
        fetch_page=fetch_page, fetch_changes=functools.partial(lookback_changes, name, changes, clock)
    )
    now = clock.now()
    return Resource(
        name=name,
        key=key,
        model=model,
        open=open,
        initial_state=ResourceState(
            inc=ResourceState.Incremental(cursor=now),
            backfill=ResourceState.Backfill(next_page=None, cutoff=now),
        ),
        initial_config=ResourceConfig(name=name, interval=interval),
        schema_inference=True,
    )
