"""``open_binding``: turn a binding's fetch functions into concurrent child tasks."""

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from ...flow import CaptureBinding
from ..document import BaseDocument
from ..task import Task
from .backfill import binding_backfill_task
from .fetch_fns import FetchChangesFn, FetchPageFn, FetchSnapshotFn, RecurringFetchPageFn
from .incremental import binding_incremental_task
from .resources import ROW_ID_POINTER
from .snapshot import binding_snapshot_task
from .state import ResourceState

_MISSING = object()


def _resolve_pointer(doc: Any, pointer: str) -> Any:
    """The value at JSON ``pointer`` in ``doc`` (a serialized document), or ``_MISSING``."""
    node = doc
    for raw in pointer.split("/")[1:]:
        token = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return _MISSING
    return node


def _as_json(doc: Any) -> Any:
    if isinstance(doc, BaseDocument):
        return doc.model_dump(mode="json", by_alias=True, exclude_unset=True)
    return doc


def _assert_tombstone_covers_key(tombstone: Any, key: list[str]) -> None:
    """A tombstone replaces a vanished row, so it must carry every key field the runtime needs
    to locate the document, except the row id the engine sets per deletion."""
    doc = _as_json(tombstone)
    missing = [p for p in key if p != ROW_ID_POINTER and _resolve_pointer(doc, p) is _MISSING]
    if missing:
        raise AssertionError(
            f"snapshot tombstone must set every collection key field other than {ROW_ID_POINTER}; "
            f"missing {missing}"
        )


def _tombstone_discriminator_values(
    tombstones: Mapping[str, Any], key: list[str]
) -> dict[str, tuple[Any, ...]]:
    """The discriminator values (key fields other than the row id) of each subtask's tombstone;
    they must differ, or the subtasks' rows would collide in the collection."""
    values = {
        sub: tuple(_resolve_pointer(_as_json(t), p) for p in key if p != ROW_ID_POINTER)
        for sub, t in tombstones.items()
    }
    if len(set(values.values())) != len(values):
        raise AssertionError(f"snapshot subtask tombstones must have distinct key values, got {values}")
    return values


def _default_tombstone() -> BaseDocument:
    return BaseDocument(_meta=BaseDocument.Meta(op="d"))


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
        inc = resource_state.inc
        if isinstance(fetch_changes, Mapping):
            assert isinstance(inc, dict), "fetch_changes subtasks require a dict of incremental states"
            for sub, changes_fn in fetch_changes.items():
                inc_state = inc.get(sub)
                assert inc_state is not None, f"missing incremental state for subtask {sub!r}"
                task.spawn_child(
                    f"{prefix}.incremental.{sub}",
                    _child(
                        binding_incremental_task,
                        binding,
                        binding_index,
                        changes_fn,
                        inc_state,
                        subtask_id=sub,
                    ),
                )
        else:
            assert isinstance(inc, ResourceState.Incremental), "fetch_changes requires an incremental state"
            task.spawn_child(
                f"{prefix}.incremental",
                _child(binding_incremental_task, binding, binding_index, fetch_changes, inc),
            )

    backfill = resource_state.backfill
    if fetch_page is not None and backfill:
        common = (resource_state.is_connector_initiated, resource_state.last_initialized)
        if isinstance(fetch_page, Mapping):
            assert isinstance(backfill, dict), "fetch_page subtasks require a dict of backfill states"
            for sub, fn in fetch_page.items():
                sub_state = backfill.get(sub)
                if sub_state is None:
                    continue  # This subtask's backfill is complete.
                task.spawn_child(
                    f"{prefix}.backfill.{sub}",
                    _child(
                        binding_backfill_task, binding, binding_index, fn, sub_state, *common, subtask_id=sub
                    ),
                )
        else:
            assert isinstance(backfill, ResourceState.Backfill), "fetch_page requires a single backfill state"
            task.spawn_child(
                f"{prefix}.backfill",
                _child(binding_backfill_task, binding, binding_index, fetch_page, backfill, *common),
            )

    if fetch_snapshot is not None:
        key: list[str] = list(binding.collection.key)
        snapshot = resource_state.snapshot
        if isinstance(fetch_snapshot, Mapping):
            assert len(key) > 1 and ROW_ID_POINTER in key, (
                f"snapshot subtasks require a compound collection key with {ROW_ID_POINTER} and a "
                f"discriminator, got {key}"
            )
            assert isinstance(tombstone, Mapping) and set(tombstone) == set(fetch_snapshot), (
                "snapshot subtasks require a tombstone per subtask"
            )
            for t in tombstone.values():
                _assert_tombstone_covers_key(t, key)
            _tombstone_discriminator_values(tombstone, key)
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
        else:
            assert snapshot is None or isinstance(snapshot, ResourceState.Snapshot), (
                "fetch_snapshot requires a single snapshot state"
            )
            if tombstone is None:
                tombstone = _default_tombstone()
            _assert_tombstone_covers_key(tombstone, key)
            task.spawn_child(
                f"{prefix}.snapshot",
                _child(
                    binding_snapshot_task,
                    binding,
                    binding_index,
                    fetch_snapshot,
                    snapshot,
                    tombstone=tombstone,
                ),
            )
