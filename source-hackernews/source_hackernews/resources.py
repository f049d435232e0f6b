"""The connector's resources (one per binding) and how each one is opened."""

import functools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from logging import Logger
from typing import Any

from estuary_cdk.capture import Task
from estuary_cdk.capture.common import (
    CaptureBinding,
    Resource,
    ResourceState,
    open_binding,
)
from estuary_cdk.http import HTTPSession

from . import api
from .models import STORY_LISTS, EndpointConfig, Item, ResourceConfig, StoryRank, UpdatesFeed, User

NEW_ITEMS = "new"
"""Subtask capturing ids created after the previous cursor."""
CHANGED_ITEMS = "updates"
"""Subtask capturing items the updates feed says have changed."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

Bindings = list[tuple[CaptureBinding[ResourceConfig], Resource[Any, ResourceConfig, ResourceState]]]


OpenFn = Callable[[CaptureBinding[ResourceConfig], int, ResourceState, Task, Bindings], None]


def _opener(**fetchers: Any) -> OpenFn:
    """An `open` callback that hands `fetchers` (and `tombstone`) to `open_binding` as is."""

    def open(
        binding: CaptureBinding[ResourceConfig],
        binding_index: int,
        state: ResourceState,
        task: Task,
        all_bindings: Bindings,
    ) -> None:
        open_binding(binding, binding_index, state, task, **fetchers)

    return open


def _users_binding_index(all_bindings: Bindings) -> int | None:
    for index, (binding, _) in enumerate(all_bindings):
        if binding.resourceConfig.name == "users":
            return index
    return None


def _recheck_what_a_previous_process_passed(state: ResourceState, config: EndpointConfig) -> None:
    """See `api.recheck_after_restart`: the ids below the new-items cursor that were fetched
    before this process started (none on a fresh start)."""
    inc = state.inc.get(NEW_ITEMS) if isinstance(state.inc, dict) else None
    cursor = inc.cursor if inc is not None else None
    if not isinstance(cursor, int):
        return
    backfill = state.backfill if isinstance(state.backfill, ResourceState.Backfill) else None
    cutoff = backfill.cutoff if backfill is not None and isinstance(backfill.cutoff, int) else None
    next_page = backfill.next_page if backfill is not None and isinstance(backfill.next_page, int) else None
    api.recheck_after_restart(cursor, cutoff, next_page, config.start_id or 1)


def items_resource(
    http: HTTPSession, config: EndpointConfig, maxitem: int
) -> Resource[Item, ResourceConfig, ResourceState]:
    """`items`: a backfill of ids up to `maxitem` (the max item id when first opened) and two
    incremental subtasks: new ids past the cursor, and changed items from the updates feed."""

    def open(
        binding: CaptureBinding[ResourceConfig],
        binding_index: int,
        state: ResourceState,
        task: Task,
        all_bindings: Bindings,
    ) -> None:
        users = _users_binding_index(all_bindings) if config.capture_item_authors else None
        _recheck_what_a_previous_process_passed(state, config)
        open_binding(
            binding,
            binding_index,
            state,
            task,
            fetch_changes={
                NEW_ITEMS: functools.partial(api.fetch_new_items, http, config, users),
                CHANGED_ITEMS: functools.partial(api.fetch_item_updates, http, config),
            },
            fetch_page=functools.partial(api.backfill_items, http, config),
        )

    now = http.clock.now()
    return Resource(
        name="items",
        key=["/id"],
        model=Item,
        open=open,
        initial_state=ResourceState(
            inc={
                NEW_ITEMS: ResourceState.Incremental(cursor=maxitem),
                CHANGED_ITEMS: ResourceState.Incremental(cursor=now),
            },
            backfill=ResourceState.Backfill(cutoff=maxitem, next_page=None),
        ),
        initial_config=ResourceConfig(name="items", interval=timedelta(minutes=1)),
        schema_inference=True,
    )


def _incremental_resource(
    name: str,
    model: type[User] | type[UpdatesFeed],
    key: list[str],
    fetch: Any,
    interval: timedelta,
) -> Resource[Any, ResourceConfig, ResourceState]:
    return Resource(
        name=name,
        key=key,
        model=model,
        open=_opener(fetch_changes=fetch),
        # The epoch makes the first poll immediate; every later cursor is the poll time.
        initial_state=ResourceState(inc=ResourceState.Incremental(cursor=_EPOCH)),
        initial_config=ResourceConfig(name=name, interval=interval),
        schema_inference=True,
    )


def story_list_resource(
    http: HTTPSession, config: EndpointConfig, name: str
) -> Resource[StoryRank, ResourceConfig, ResourceState]:
    """One of the six story lists, re-read every interval. Keyed on `/_meta/row_id` (rank - 1):
    when a list gets shorter, the ranks past its new end are tombstoned."""

    return Resource(
        name=name,
        key=["/_meta/row_id"],
        model=StoryRank,
        open=_opener(
            fetch_snapshot=functools.partial(api.snapshot_story_list, http, config, name),
            tombstone=StoryRank(_meta=StoryRank.Meta(op="d")),
        ),
        initial_state=ResourceState(),
        initial_config=ResourceConfig(name=name, interval=timedelta(minutes=5)),
        schema_inference=True,
    )


async def all_resources(
    log: Logger, http: HTTPSession, config: EndpointConfig, maxitem: int | None = None
) -> list[Resource[Any, ResourceConfig, ResourceState]]:
    """Every resource. `maxitem` fixes the items backfill's end; discovery, which starts no
    capture, passes nothing and gets a placeholder."""
    return [
        items_resource(http, config, maxitem if maxitem is not None else 0),
        _incremental_resource(
            "users",
            User,
            ["/id"],
            functools.partial(api.fetch_user_updates, http, config),
            timedelta(minutes=5),
        ),
        _incremental_resource(
            "updates",
            UpdatesFeed,
            ["/fetched_at"],
            functools.partial(api.fetch_updates_feed, http, config),
            timedelta(minutes=1),
        ),
        *(story_list_resource(http, config, name) for name in STORY_LISTS),
    ]
