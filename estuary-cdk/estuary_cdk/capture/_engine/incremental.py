"""The incremental task: polls a FetchChangesFn and checkpoints every yielded LogCursor."""

from collections.abc import AsyncGenerator
from datetime import datetime, timedelta
from typing import Any

from ...flow import CaptureBinding
from ..document import AssociatedDocument, BaseDocument
from ..task import Task
from .cursors import LogCursor, Triggers
from .fetch_fns import FetchChangesFn, aclose, binding_interval
from .state import ConnectorState, ResourceState
from .stop import wait_for_stop
from .waits import describe_binding, human_duration, log_next_poll

_DOCUMENT_TYPES = (BaseDocument, dict)


def check_log_cursor(last: LogCursor, new: Any) -> None:
    """Enforce the FetchChangesFn contract: cursors keep their type, and int and datetime
    cursors strictly increase (so a checkpoint can never move capture backwards)."""
    last_type = type(last)
    new_type = type(new)
    same_kind = (
        (new_type is int and last_type is int)
        or (isinstance(new, datetime) and isinstance(last, datetime) and new.tzinfo is not None)
        or (new_type is tuple and last_type is tuple)
    )
    if not same_kind:
        raise RuntimeError(
            f"Implementation error: FetchChangesFn yielded LogCursor {new!r} "
            f"of a different type than the last LogCursor {last!r}"
        )
    if new_type is not tuple and not new > last:
        raise RuntimeError(
            f"Implementation error: FetchChangesFn yielded LogCursor {new!r} "
            f"which is not greater than the last LogCursor {last!r}"
        )


def _sleep_after(cursor: LogCursor, interval: timedelta, now: datetime) -> timedelta:
    """How long to wait before the next poll, given a datetime cursor's lag behind `now`."""
    if isinstance(cursor, datetime):
        lag = now - cursor
        return timedelta() if lag > interval else interval - lag
    return timedelta()


def _cursor_age(cursor: LogCursor, now: datetime) -> str:
    """Why a datetime cursor's binding waits other than a whole interval."""
    if not isinstance(cursor, datetime):
        return ""
    if cursor > now:
        return f"the cursor is {human_duration(cursor - now)} ahead of the clock"
    return f"the cursor is {human_duration(now - cursor)} old"


async def binding_incremental_task(
    binding: CaptureBinding[Any],
    binding_index: int,
    fetch_changes: FetchChangesFn,
    state: ResourceState.Incremental,
    task: Task,
    subtask_id: str | None = None,
) -> None:
    state_key: str = binding.stateKey
    # One state object, mutated in place: each checkpoint serializes only `inc` (exclude_unset).
    inc: Any = state if subtask_id is None else {subtask_id: state}
    connector_state: ConnectorState[ResourceState] = ConnectorState(
        bindingStateV1={state_key: ResourceState(inc=inc)}
    )

    task.log.info(
        "resuming incremental replication",
        {"state": state.model_dump(mode="json"), "subtask_id": subtask_id},
    )

    interval = binding_interval(binding)
    stopping = task.stopping.event
    captured = task.captured
    checkpoint = task.checkpoint
    document_types = _DOCUMENT_TYPES  # a local, for the per-document check
    what = describe_binding(binding, subtask_id)
    # A datetime cursor less than an interval old waits out the rest of the interval first.
    now = task.clock.now()
    sleep_for = _sleep_after(state.cursor, interval, now)
    reason = _cursor_age(state.cursor, now)

    while True:
        log_next_poll(
            task.log,
            what,
            sleep_for,
            interval,
            now,
            reason,
            {"cursor": state.cursor, "subtask_id": subtask_id},
        )
        if await wait_for_stop(task.clock, stopping, sleep_for):
            task.log.debug("incremental replication is idle and is yielding to stop")
            return

        checkpoints = 0
        item: Any = None
        gen: AsyncGenerator[Any, None] = fetch_changes(task.log, state.cursor)
        try:
            async for item in gen:
                cls = type(item)
                if cls is dict or isinstance(item, document_types):
                    captured(binding_index, item)
                elif cls is AssociatedDocument or isinstance(item, AssociatedDocument):
                    captured(item.binding, item.doc)
                elif item is Triggers.BACKFILL:
                    task.log.info("incremental task triggered backfill", {"subtask_id": subtask_id})
                    stopping.set()
                    await checkpoint(ConnectorState(backfillRequests={state_key: True}))
                    return
                else:
                    check_log_cursor(state.cursor, item)
                    state.cursor = item
                    await checkpoint(connector_state)
                    checkpoints += 1
        finally:
            await aclose(gen)

        # Documents after the last cursor (read from the last item, not tracked per document).
        if item is not None and isinstance(item, (BaseDocument, dict, AssociatedDocument)):
            raise RuntimeError(
                "Implementation error: FetchChangesFn yielded documents without a final LogCursor"
            )

        now = task.clock.now()
        if checkpoints == 0:
            sleep_for, reason = interval, "the last poll found nothing new"
        else:
            sleep_for, reason = _sleep_after(state.cursor, interval, now), _cursor_age(state.cursor, now)
