"""``open_binding``: turn a binding's fetch functions into concurrent child tasks."""

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from ...flow import CaptureBinding
from ..task import Task
from .backfill import binding_backfill_task
from .fetch_fns import FetchChangesFn, FetchPageFn, FetchSnapshotFn, RecurringFetchPageFn
from .incremental import binding_incremental_task
from .resources import OPENING, ROW_ID_POINTER
from .snapshot import binding_snapshot_task
from .state import ResourceState
from .tombstones import check_tombstone, default_tombstone, tombstone_discriminator_values


def _model_of(binding: CaptureBinding[Any]) -> Any:
    """The document model of the resource being opened for `binding` (None if unknown, e.g.
    `open_binding` called outside `common.open`)."""
    resource = OPENING.get()
    if resource is None or resource.initial_config.path() != binding.resourceConfig.path():
        return None
    return resource.model


def _child(
    fn: Callable[..., Awaitable[None]], *args: Any, **kwargs: Any
) -> Callable[[Task], Awaitable[None]]:
    def run(task: Task) -> Awaitable[None]:
        return fn(*args, task=task, **kwargs)

    return run


def open_binding(
    binding: CaptureBinding[Any],
    binding_index: int,
    resource_state: ResourceState,
    task: Task,
    fetch_changes: FetchChangesFn | Mapping[str, FetchChangesFn] | None = None,
    fetch_page: FetchPageFn
    | RecurringFetchPageFn
    | Mapping[str, FetchPageFn | RecurringFetchPageFn]
    | None = None,
    fetch_snapshot: FetchSnapshotFn | Mapping[str, FetchSnapshotFn] | None = None,
    tombstone: Any = None,
) -> None:
    """Start the capture of one binding: an incremental task per ``fetch_changes`` function, a
    backfill task per ``fetch_page`` function whose backfill is pending, and a snapshot task per
    ``fetch_snapshot`` function. A mapping of functions declares subtasks, whose states live
    under the same subtask ids in ``resource_state``.
    """
    prefix = ".".join(binding.resourceConfig.path())
    task.connector_status.inc_binding_count()
    if fetch_changes is not None:
        _start_incremental(task, prefix, binding, binding_index, resource_state, fetch_changes)
    if fetch_page is not None and resource_state.backfill:
        _start_backfill(task, prefix, binding, binding_index, resource_state, fetch_page)
    if fetch_snapshot is not None:
        _start_snapshot(task, prefix, binding, binding_index, resource_state, fetch_snapshot, tombstone)


def _start_incremental(
    task: Task,
    prefix: str,
    binding: CaptureBinding[Any],
    binding_index: int,
    resource_state: ResourceState,
    fetch_changes: FetchChangesFn | Mapping[str, FetchChangesFn],
) -> None:
    """One incremental task, or one per subtask (states under the same ids)."""
    inc = resource_state.inc
    if not isinstance(fetch_changes, Mapping):
        assert isinstance(inc, ResourceState.Incremental), "fetch_changes requires an incremental state"
        task.spawn_child(
            f"{prefix}.incremental",
            _child(binding_incremental_task, binding, binding_index, fetch_changes, inc),
        )
        return
    assert isinstance(inc, dict), "fetch_changes subtasks require a dict of incremental states"
    for sub, changes_fn in fetch_changes.items():
        inc_state = inc.get(sub)
        assert inc_state is not None, f"missing incremental state for subtask {sub!r}"
        task.spawn_child(
            f"{prefix}.incremental.{sub}",
            _child(binding_incremental_task, binding, binding_index, changes_fn, inc_state, subtask_id=sub),
        )


def _start_backfill(
    task: Task,
    prefix: str,
    binding: CaptureBinding[Any],
    binding_index: int,
    resource_state: ResourceState,
    fetch_page: FetchPageFn | RecurringFetchPageFn | Mapping[str, FetchPageFn | RecurringFetchPageFn],
) -> None:
    """A backfill task for the pending backfill, or one per subtask whose backfill is pending."""
    backfill = resource_state.backfill
    common = (resource_state.is_connector_initiated, resource_state.last_initialized)
    if not isinstance(fetch_page, Mapping):
        assert isinstance(backfill, ResourceState.Backfill), "fetch_page requires a single backfill state"
        task.spawn_child(
            f"{prefix}.backfill",
            _child(binding_backfill_task, binding, binding_index, fetch_page, backfill, *common),
        )
        return
    assert isinstance(backfill, dict), "fetch_page subtasks require a dict of backfill states"
    for sub, fn in fetch_page.items():
        sub_state = backfill.get(sub)
        if sub_state is None:
            continue  # This subtask's backfill is complete.
        task.spawn_child(
            f"{prefix}.backfill.{sub}",
            _child(binding_backfill_task, binding, binding_index, fn, sub_state, *common, subtask_id=sub),
        )


def _start_snapshot(
    task: Task,
    prefix: str,
    binding: CaptureBinding[Any],
    binding_index: int,
    resource_state: ResourceState,
    fetch_snapshot: FetchSnapshotFn | Mapping[str, FetchSnapshotFn],
    tombstone: Any,
) -> None:
    """A snapshot task with its checked tombstone, or one per subtask, each with its own."""
    key: list[str] = list(binding.collection.key)
    snapshot = resource_state.snapshot
    if not isinstance(fetch_snapshot, Mapping):
        assert snapshot is None or isinstance(snapshot, ResourceState.Snapshot), (
            "fetch_snapshot requires a single snapshot state"
        )
        if tombstone is None:
            tombstone = default_tombstone()
        check_tombstone(binding, tombstone, _model_of(binding), task.log)
        task.spawn_child(
            f"{prefix}.snapshot",
            _child(
                binding_snapshot_task, binding, binding_index, fetch_snapshot, snapshot, tombstone=tombstone
            ),
        )
        return
    assert len(key) > 1 and ROW_ID_POINTER in key, (
        f"snapshot subtasks require a compound collection key with {ROW_ID_POINTER} and a "
        f"discriminator, got {key}"
    )
    assert isinstance(tombstone, Mapping) and set(tombstone) == set(fetch_snapshot), (
        "snapshot subtasks require a tombstone per subtask"
    )
    model = _model_of(binding)
    for sub, t in tombstone.items():
        check_tombstone(binding, t, model, task.log, sub)
    tombstone_discriminator_values(tombstone, key)
    assert snapshot is None or isinstance(snapshot, dict), "snapshot subtasks require dict states"
    for sub, snapshot_fn in fetch_snapshot.items():
        task.spawn_child(
            f"{prefix}.snapshot.{sub}",
            _child(
                binding_snapshot_task,
                binding,
                binding_index,
                snapshot_fn,
                (snapshot or {}).get(sub),
                tombstone=tombstone[sub],
                subtask_id=sub,
            ),
        )
