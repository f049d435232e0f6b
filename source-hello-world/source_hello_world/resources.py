"""The capture's resources: `greetings` (backfill + incremental) and `languages` (snapshot)."""

from __future__ import annotations

import asyncio
import functools
from datetime import timedelta
from logging import Logger

from estuary_cdk.capture import Task
from estuary_cdk.capture.common import (
    CaptureBinding,
    Resource,
    ResourceConfig,
    ResourceState,
    open_binding,
)

from . import api
from .models import EndpointConfig, Greeting, Language


def greetings(config: EndpointConfig) -> Resource:
    def open(
        binding: CaptureBinding[ResourceConfig],
        binding_index: int,
        state: ResourceState,
        task: Task,
        all_bindings: list,
    ) -> None:
        progress = api.Progress()
        if not state.backfill:
            progress.backfill_done.set()
        open_binding(
            binding,
            binding_index,
            state,
            task,
            fetch_changes=functools.partial(
                api.fetch_greetings_changes, config, progress, task.stopping.event, asyncio.sleep
            ),
            fetch_page=functools.partial(api.fetch_greetings_page, config, progress),
        )

    # Ids 1..history exist "before" the capture: the backfill reads them, the incremental task
    # generates everything after. Both start from the same position, as the guide's pattern does.
    initial_state = ResourceState(
        inc=ResourceState.Incremental(cursor=config.history),
        backfill=(ResourceState.Backfill(cutoff=config.history, next_page=None) if config.history else None),
    )
    return Resource(
        name="greetings",
        key=["/id"],
        model=Greeting,
        open=open,
        initial_state=initial_state,
        initial_config=ResourceConfig(name="greetings"),
        schema_inference=True,
    )


def languages() -> Resource:
    def open(
        binding: CaptureBinding[ResourceConfig],
        binding_index: int,
        state: ResourceState,
        task: Task,
        all_bindings: list,
    ) -> None:
        open_binding(binding, binding_index, state, task, fetch_snapshot=api.fetch_languages)

    return Resource(
        name="languages",
        key=["/_meta/row_id"],
        model=Language,
        open=open,
        initial_state=ResourceState(),
        initial_config=ResourceConfig(name="languages", interval=timedelta(hours=1)),
        schema_inference=True,
    )


def all_resources(log: Logger, config: EndpointConfig) -> list[Resource]:
    return [greetings(config), languages()]
