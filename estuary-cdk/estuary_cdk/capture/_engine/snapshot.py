"""The snapshot task: periodically captures a whole (small) resource, emitting it only if it
changed, and deleting rows that vanished with tombstones.

A pass whose digest equals the last one's writes nothing at all, not even a checkpoint of its
start time (the reference kit checkpoints `updated_at` after every pass). A checkpoint with no
documents is still a transaction for the runtime: an unchanged table polled every few seconds
would commit one every few seconds forever, so the capture never looks idle (`flowctl preview
--timeout` never ends, and Flow records a transaction per pass). The schedule of later passes is
kept in memory; the cost is one pass after a restart (the stored `updated_at` is that of the last
change, so the first pass runs at once), which finds the same digest and again writes nothing.
"""

import asyncio
from datetime import UTC, datetime
from typing import Any

from ...flow import CaptureBinding
from ..document import MetaOp, set_document_meta
from ..task import Task
from .fetch_fns import FetchSnapshotFn, aclose, binding_interval
from .state import ConnectorState, ResourceState
from .stop import wait_for_stop
from .waits import describe_binding, human_duration, log_next_poll

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def with_snapshot_meta(doc: Any, op: MetaOp, row_id: int) -> Any:
    """Set ``_meta.op`` and ``_meta.row_id`` on a snapshot document (see ``set_document_meta``)."""
    try:
        return set_document_meta(doc, op, row_id)
    except TypeError:
        raise RuntimeError(
            f"Implementation error: FetchSnapshotFn yielded {type(doc).__name__}, "
            "which is neither a BaseDocument nor a dict"
        ) from None


def tombstone_for_row(tombstone: Any, row_id: int) -> Any:
    """A deletion document for snapshot row ``row_id``, built from ``tombstone``."""
    copy = dict(tombstone) if isinstance(tombstone, dict) else tombstone.model_copy()
    return with_snapshot_meta(copy, "d", row_id)


async def binding_snapshot_task(
    binding: CaptureBinding[Any],
    binding_index: int,
    fetch_snapshot: FetchSnapshotFn,
    state: ResourceState.Snapshot | None,
    task: Task,
    tombstone: Any,
    subtask_id: str | None = None,
) -> None:
    if state is None:
        state = ResourceState.Snapshot(updated_at=EPOCH, last_count=0, last_digest="")
    value: Any = state if subtask_id is None else {subtask_id: state}
    connector_state: ConnectorState[ResourceState] = ConnectorState(
        bindingStateV1={binding.stateKey: ResourceState(snapshot=value)}
    )

    interval = binding_interval(binding)
    stopping = task.stopping.event
    captured = task.captured
    what = describe_binding(binding, subtask_id)
    first = True

    while True:
        await asyncio.sleep(0)
        now = task.clock.now()
        delay = state.updated_at + interval - now
        # Only a session's first wait needs saying why it is shorter than the interval.
        reason = (
            f"the last checkpointed pass began {human_duration(now - state.updated_at)} ago" if first else ""
        )
        log_next_poll(task.log, what, delay, interval, now, reason, {"subtask_id": subtask_id})
        first = False
        if await wait_for_stop(task.clock, stopping, delay):
            task.log.debug("periodic snapshot is idle and is yielding to stop", {"subtask_id": subtask_id})
            return

        state.updated_at = task.clock.now()
        last_count = state.last_count
        count = 0
        gen: Any = fetch_snapshot(task.log)
        try:
            async for doc in gen:
                captured(binding_index, with_snapshot_meta(doc, "u" if count < last_count else "c", count))
                count += 1
        finally:
            await aclose(gen)

        digest = task.pending_digest()
        if digest == state.last_digest:
            # Nothing to write (see the module docstring); `updated_at` paces the next pass.
            task.reset()
            task.log.debug(
                "snapshot is unchanged; nothing was emitted", {"count": count, "subtask_id": subtask_id}
            )
            continue
        for row_id in range(count, last_count):
            captured(binding_index, tombstone_for_row(tombstone, row_id))
        state.last_count = count
        state.last_digest = digest
        await task.checkpoint(connector_state)
