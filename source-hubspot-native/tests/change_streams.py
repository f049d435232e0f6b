"""Running the change streams of the bindings outside the CRM in-process (marketing emails,
workflows, lists, memberships, campaigns): every page of a backfill, a realtime poll, the
delayed stream until it reaches a time, a look-back poll; each under a cache name of its own
(the emitted-changes cache is process-wide)."""

from __future__ import annotations

import functools
import itertools
from collections.abc import AsyncGenerator, Callable
from datetime import datetime, timedelta
from typing import Any

import estuary_cdk.emitted_changes_cache as cache
from estuary_cdk.capture.common import BaseDocument
from harness import LOG, Connected, collect
from source_hubspot_native.api import dual
from source_hubspot_native.lookback import Changes, lookback_changes

LAG = timedelta(hours=1)
_names = itertools.count()

PageFn = Callable[[Any, Any, Any], AsyncGenerator[Any, None]]  # (log, page, cutoff)


def cache_name(binding: str) -> str:
    return f"{binding}-test-{next(_names)}"


def docs_of(out: list[Any]) -> list[Any]:
    return [x for x in out if isinstance(x, BaseDocument)]


def cursors_of(out: list[Any]) -> list[Any]:
    return [x for x in out if not isinstance(x, BaseDocument)]


async def backfill(fetch_page: PageFn, cutoff: datetime) -> tuple[list[Any], list[Any]]:
    """Every page of a backfill: its documents and the page cursors it yielded."""
    docs: list[Any] = []
    pages: list[Any] = []
    page: Any = None
    while True:
        out = await collect(fetch_page(LOG, page, cutoff))
        docs += docs_of(out)
        following = cursors_of(out)
        if not following:
            return docs, pages
        page = following[-1]
        pages.append(page)


class Dual:
    """The realtime and delayed streams of a binding whose listing carries its documents."""

    def __init__(self, c: Connected, binding: str, list_changes: Any) -> None:
        self.c = c
        self.name = cache_name(binding)
        self.lister = functools.partial(list_changes, c.client)

    async def realtime(self, cursor: datetime) -> tuple[list[Any], datetime]:
        out = await collect(
            dual.realtime_changes(self.name, self.lister, dual.carried, self.c.clock, LOG, cursor)
        )
        return docs_of(out), max(cursors_of(out), default=cursor)

    async def delayed_until(self, cursor: datetime, until: datetime) -> list[Any]:
        """What the delayed stream emits from `cursor` until its cursor passes `until` (the
        clock is moved past the lag first)."""
        if self.c.clock.now() - LAG < until + dual.min_window(LAG):
            self.c.clock.advance(
                (until + dual.min_window(LAG) - (self.c.clock.now() - LAG)).total_seconds() + 1
            )
        emitted: list[Any] = []
        while cursor < until:
            out = await collect(
                dual.delayed_changes(self.name, self.lister, dual.carried, self.c.clock, LAG, LOG, cursor)
            )
            emitted += docs_of(out)
            cursor = max(cursors_of(out), default=cursor)
        return emitted

    def restart(self) -> None:
        """A new process: the emitted-changes cache is empty."""
        cache.emitted_cache.pop(self.name, None)


class LookBack:
    """The look-back stream of a binding."""

    def __init__(self, c: Connected, binding: str, changes: Changes) -> None:
        self.c = c
        self.name = cache_name(binding)
        self.changes = changes

    async def poll(self, cursor: datetime) -> tuple[list[Any], datetime]:
        out = await collect(lookback_changes(self.name, self.changes, self.c.clock, LOG, cursor))
        return docs_of(out), max(cursors_of(out), default=cursor)

    def restart(self) -> None:
        cache.emitted_cache.pop(self.name, None)
