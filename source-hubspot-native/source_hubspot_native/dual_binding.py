"""What every binding with a backfill and the realtime + delayed pair of change streams shares
(CRM objects, email events): its initial state and its `open`, which may first commit a
sourced schema (CRM objects: the account's properties, hubspot.md §2.2)."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from estuary_cdk.capture import Task
from estuary_cdk.capture.common import CaptureBinding, FetchPageFn, RecurringFetchPageFn, ResourceState
from estuary_cdk.http import Clock

from .api import dual
from .models import ConnectorState, ResourceConfig
from .opening import Open, opener

OpenFn = Callable[[CaptureBinding[ResourceConfig], int, ResourceState, Task, list[Any]], Awaitable[None]]
"""An `open` that first commits the binding's sourced schema."""
SourcedSchemaFn = Callable[[logging.Logger], Awaitable[dict[str, Any]]]


def initial_state(now: datetime, lag: timedelta) -> ResourceState:
    """Both streams start at the backfill's cutoff; the delayed one `lag` behind it, so changes
    made just before the capture started, not yet settled, are read too."""
    return ResourceState(
        inc={
            dual.REALTIME: ResourceState.Incremental(cursor=now),
            dual.DELAYED: ResourceState.Incremental(cursor=now - lag),
        },
        backfill=ResourceState.Backfill(next_page=None, cutoff=now),
    )


def dual_open(
    name: str,
    fetch_page: FetchPageFn[Any] | RecurringFetchPageFn[Any],
    realtime: dual.Lister,
    delayed: dual.Lister,
    hydrate: dual.Hydrator,
    clock: Clock,
    lag: timedelta,
    sourced: SourcedSchemaFn | None = None,
) -> Open | OpenFn:
    """The `open` of a binding: its backfill, and the two streams sharing `name`'s entries of
    the emitted-changes cache. With `sourced`, the schema it reads now is committed (a
    checkpoint) as the binding's sourced schema before any document."""

    start = opener(
        fetch_page=fetch_page,
        fetch_changes={
            dual.REALTIME: functools.partial(dual.realtime_changes, name, realtime, hydrate, clock),
            dual.DELAYED: functools.partial(dual.delayed_changes, name, delayed, hydrate, clock, lag),
        },
    )
    if sourced is None:
        return start
    schema_of = sourced

    async def open(
        binding: CaptureBinding[ResourceConfig],
        binding_index: int,
        state: ResourceState,
        task: Task,
        all_bindings: list[Any],
    ) -> None:
        task.sourced_schema(binding_index, await schema_of(task.log))
        await task.checkpoint(ConnectorState())
        start(binding, binding_index, state, task, all_bindings)

    return open
