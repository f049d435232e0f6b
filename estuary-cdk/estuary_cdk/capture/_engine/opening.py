"""``open``: prepare every binding's state and start its capture."""

import inspect
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

from ...cron import next_fire
from ...flow import CaptureBinding
from .. import request, response
from ..task import Task
from .config import ResourceConfigWithSchedule
from .resources import OPENING, Resource, datetime_cursors
from .state import ConnectorState, ResourceState
from .stop import scheduled_stop


def _scheduled_state(state: Any, initial: Any) -> tuple[Any, bool]:
    """State for a schedule-initiated re-backfill, and whether it replaces the old one.

    When incremental capture is datetime-based and the resource backfills from a datetime cutoff,
    incremental progress is kept and only a backfill up to the oldest incremental cursor is
    added; otherwise the binding starts over from its initial state.
    """
    initial_backfill = getattr(initial, "backfill", None)
    cursors = datetime_cursors(state)
    if (
        cursors
        and isinstance(initial_backfill, ResourceState.Backfill)
        and isinstance(initial_backfill.cutoff, datetime)
    ):
        state.backfill = initial_backfill.model_copy(update={"cutoff": min(cursors)}, deep=True)
        return state, False
    return initial.model_copy(deep=True), True


def open(
    open: request.Open[Any, Any, Any],
    resolved_bindings: Sequence[tuple[CaptureBinding[Any], Resource[Any, Any, Any]]],
) -> tuple[response.Opened, Callable[[Task], Awaitable[None]]]:
    """The ``opened`` response and the capture runner for an ``open`` request whose bindings
    were resolved by ``resolve_bindings`` (in request order, so list indexes are binding
    indexes)."""

    async def _run(task: Task) -> None:
        prior: Any = open.state
        backfill_requests: list[str] = list(getattr(prior, "backfillRequests", None) or {})
        for requested in backfill_requests:
            task.log.info("clearing checkpoint due to backfill trigger", {"stateKey": requested})
            await task.checkpoint(
                ConnectorState(bindingStateV1={requested: None}, backfillRequests={requested: None})
            )

        now = task.clock.now()
        soonest_future: datetime | None = None
        binding_states: dict[str, Any] = getattr(prior, "bindingStateV1", None) or {}

        for index, (binding, resource) in enumerate(resolved_bindings):
            state_key: str = binding.stateKey
            state = None if state_key in backfill_requests else binding_states.get(state_key)
            should_initialize = state is None
            connector_initiated = False

            if state is not None:
                if state.last_initialized is None:
                    state.last_initialized = now
                    await task.checkpoint(ConnectorState(bindingStateV1={state_key: state}))

                config = binding.resourceConfig
                if not state.backfill and isinstance(config, ResourceConfigWithSchedule) and config.schedule:
                    if next_fire(config.schedule, state.last_initialized, now):
                        should_initialize = True
                        connector_initiated = True
                    else:
                        future = next_fire(config.schedule, now)
                        if future is not None and (soonest_future is None or future < soonest_future):
                            soonest_future = future

            if should_initialize:
                if connector_initiated:
                    state, replaced = _scheduled_state(state, resource.initial_state)
                    if replaced:
                        # Drop fields of the old state that the initial state does not set.
                        await task.checkpoint(ConnectorState(bindingStateV1={state_key: None}))
                    state.is_connector_initiated = True
                    task.log.info(
                        "re-initializing binding for its scheduled backfill", {"stateKey": state_key}
                    )
                else:
                    state = resource.initial_state.model_copy(deep=True)
                state.last_initialized = now
                await task.checkpoint(ConnectorState(bindingStateV1={state_key: state}))

            opening = OPENING.set(resource)
            try:
                opened = resource.open(binding, index, state, task, list(resolved_bindings))
                if inspect.isawaitable(opened):
                    await opened
            finally:
                OPENING.reset(opening)

        if soonest_future is not None:
            future_dt = soonest_future
            task.spawn_child("scheduled_stop", lambda t: scheduled_stop(t, future_dt))

        if task.stopping.webhook_task is not None:
            # The webhook server runs outside the capture's task group, which would otherwise
            # end as soon as the pull tasks are done (at once, if every binding is a webhook).
            await task.stopping.event.wait()

    explicit_acks = any(resource.requires_explicit_acks for _, resource in resolved_bindings)
    return response.Opened(explicitAcknowledgements=explicit_acks), _run
