"""Resources (what a connector can capture), discovery and binding resolution."""

import copy
from collections.abc import Awaitable, Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Generic, TypeVar

from ...flow import CaptureBinding, ValidationError
from .. import response
from ..document import BaseDocument
from ..task import Task
from .config import BaseResourceConfig
from .state import BaseResourceState, ResourceState

_Doc = TypeVar("_Doc", bound=BaseDocument)
_RC = TypeVar("_RC", bound=BaseResourceConfig)
_RS = TypeVar("_RS", bound=BaseResourceState)
_Binding = TypeVar("_Binding")

ROW_ID_POINTER = "/_meta/row_id"


class ReductionStrategy(StrEnum):
    """Reduction strategies a resource may ask the runtime to apply to its documents."""

    APPEND = "append"
    FIRST_WRITE_WINS = "firstWriteWins"
    LAST_WRITE_WINS = "lastWriteWins"
    MERGE = "merge"
    MINIMIZE = "minimize"
    MAXIMIZE = "maximize"
    SET = "set"
    SUM = "sum"


@dataclass
class Resource(Generic[_Doc, _RC, _RS]):
    """A capturable resource: metadata for discovery plus an ``open`` callback that starts
    its capture (typically by calling ``open_binding``)."""

    @dataclass
    class FixedSchema:
        """A prepared JSON schema used instead of the model's generated one."""

        value: dict[str, Any]

    name: str
    key: list[str]
    model: "type[_Doc] | Resource.FixedSchema"
    open: Callable[
        [CaptureBinding[_RC], int, _RS, Task, list[tuple[CaptureBinding[_RC], "Resource[_Doc, _RC, _RS]"]]],
        Awaitable[None] | None,
    ]
    initial_state: _RS
    initial_config: _RC
    schema_inference: bool
    reduction_strategy: ReductionStrategy | None = None
    disable: bool = False
    # A key picked for lack of a natural identifier: discovery says so, and the user may change
    # it afterwards. A key the connector emits deletions against is never a fallback.
    is_fallback_key: bool = False
    requires_explicit_acks: bool = False


OPENING: ContextVar["Resource[Any, Any, Any] | None"] = ContextVar("opening_resource", default=None)
"""The resource whose `open` callback runs (set by `common.open`), so `open_binding`, which
connectors call with the binding alone, can check a tombstone against the resource's model."""


@dataclass(kw_only=True)
class SnapshotResource(Resource[_Doc, _RC, ResourceState]):
    """A resource captured by periodic full snapshots, keyed on the snapshot row id.

    Generic in the document and the resource config only (`SnapshotResource[Doc, Config]`, as
    in the reference kit): its state is always a `ResourceState`, whose `snapshot` the engine
    keeps."""

    key: list[str] = field(default_factory=lambda: [ROW_ID_POINTER])
    model: "type[_Doc] | Resource.FixedSchema" = BaseDocument  # type: ignore[assignment]
    initial_state: ResourceState = field(default_factory=ResourceState)
    schema_inference: bool = True

    def __post_init__(self) -> None:
        if ROW_ID_POINTER not in self.key:
            raise ValueError(
                f"SnapshotResource {self.name!r} must be keyed on {ROW_ID_POINTER}, but its key is {self.key}"
            )
        if self.is_fallback_key:
            raise ValueError(
                f"SnapshotResource {self.name!r} cannot have a fallback key: its deletions are "
                f"addressed by {ROW_ID_POINTER}, which the user must not change"
            )


_DELETE_IF = {
    "required": ["_meta"],
    "properties": {"_meta": {"required": ["op"], "properties": {"op": {"const": "d"}}}},
}


def _document_schema(resource: Resource[Any, Any, Any]) -> dict[str, Any]:
    """The discovered schema of a resource's documents: its model's (or the fixed one), marked
    for inference and reduction as the resource asks.

    Of a snapshot resource (keyed on the row id), the model's required fields are required only
    of documents that are not deletions (`else` of the deletion test): the engine's tombstone
    for a row that vanished carries `_meta` and the key only (it knows nothing else of the row,
    see `BaseDocument.__init__`) and would otherwise fail the collection's schema. Every other
    resource's schema is the model's, exactly as the reference kit discovers it, so a connector
    moved to this kit discovers byte-identical collections (issue 11): its deletions carry the
    required fields, or its model makes them optional, as on the reference. A fixed schema is
    the connector's own and is left as it is.
    """
    required_unless_deleted: list[str] = []
    if isinstance(resource.model, Resource.FixedSchema):
        schema = copy.deepcopy(resource.model.value)
    else:
        schema = resource.model.model_json_schema(mode="serialization")
        if ROW_ID_POINTER in resource.key:
            required_unless_deleted = _split_required(schema, resource.key)

    strategy = resource.reduction_strategy
    otherwise: dict[str, Any] = {}
    if resource.schema_inference:
        schema["x-infer-schema"] = True
        # Deletions (op "d") are reduced as merge-deletes; everything else per the strategy.
        schema["if"] = copy.deepcopy(_DELETE_IF)
        schema["then"] = {"reduce": {"strategy": "merge", "delete": True}}
        if strategy is not None:
            otherwise["reduce"] = {"strategy": str(strategy)}
    elif strategy is not None:
        schema["reduce"] = {"strategy": str(strategy)}
    if required_unless_deleted:
        schema.setdefault("if", copy.deepcopy(_DELETE_IF))
        otherwise["required"] = required_unless_deleted
    if otherwise:
        schema["else"] = otherwise
    return schema


def _split_required(schema: dict[str, Any], key: list[str]) -> list[str]:
    """Keep only the key's fields in the schema's top-level `required`; return the others."""
    required = schema.get("required")
    if not isinstance(required, list):
        return []
    key_fields = {
        pointer.split("/")[1].replace("~1", "/").replace("~0", "~") for pointer in key if pointer.count("/")
    }
    others = [name for name in required if name not in key_fields]
    if others:
        kept = [name for name in required if name in key_fields]
        if kept:
            schema["required"] = kept
        else:
            del schema["required"]
    return others


def discovered(resources: Sequence[Resource[Any, Any, Any]]) -> response.Discovered[Any]:
    """The ``discovered`` response for ``resources`` (one binding each, in order).

    `isFallbackKey` is set, and so written, only when true: the protocol leaves a field at its
    default value out, and neither the reference kit nor the connectors' committed discover
    snapshots carry `"isFallbackKey":false`. `disable` is always written, as the reference does.
    """
    return response.Discovered(
        bindings=[
            response.DiscoveredBinding(
                recommendedName=resource.name,
                resourceConfig=resource.initial_config,
                documentSchema=_document_schema(resource),
                key=resource.key,
                **({"isFallbackKey": True} if resource.is_fallback_key else {}),
                disable=resource.disable,
            )
            for resource in resources
        ]
    )


def resolve_bindings(
    bindings: Sequence[_Binding],
    resources: Sequence[Resource[Any, Any, Any]],
    resource_term: str = "Resource",
) -> list[tuple[_Binding, Resource[Any, Any, Any]]]:
    """Pair every binding (of ``validate`` or ``open``) with the resource of the same path, in
    binding order. Webhook resources whose match rules would claim the same documents are
    reported too (first), all problems together in one ``ValidationError``."""
    # Imported here: the webhook resources are built on this module.
    from ..webhook.resources import match_rule_conflicts

    conflicts = match_rule_conflicts(resources)
    try:
        resolved = _pair_bindings(bindings, resources, resource_term)
    except ValidationError as exc:
        raise ValidationError([*conflicts, *exc.errors]) from None
    if conflicts:
        raise ValidationError(conflicts)
    return resolved


def _pair_bindings(
    bindings: Sequence[_Binding],
    resources: Sequence[Resource[Any, Any, Any]],
    resource_term: str,
) -> list[tuple[_Binding, Resource[Any, Any, Any]]]:
    """Each binding with its resource, or a ``ValidationError`` listing every binding without
    one (and snapshot bindings not keyed on the row id)."""
    by_path: dict[tuple[str, ...], Resource[Any, Any, Any]] = {}
    for resource in resources:
        by_path.setdefault(tuple(resource.initial_config.path()), resource)

    resolved: list[tuple[_Binding, Resource[Any, Any, Any]]] = []
    errors: list[str] = []
    for binding in bindings:
        path: list[str] = binding.resourceConfig.path()  # type: ignore[attr-defined]
        found = by_path.get(tuple(path))
        if found is None:
            errors.append(f"{resource_term} '{'.'.join(path)}' was not found.")
            continue
        if isinstance(found, SnapshotResource):
            collection = binding.collection  # type: ignore[attr-defined]
            if ROW_ID_POINTER not in collection.key:
                errors.append(
                    f"Collection '{collection.name}' is bound to snapshot resource '{'.'.join(path)}' "
                    f"and so must be keyed on {ROW_ID_POINTER}, but its key is {collection.key}."
                )
                continue
        resolved.append((binding, found))

    if errors:
        raise ValidationError(errors)
    return resolved


def validated(resolved_bindings: Sequence[tuple[Any, Resource[Any, Any, Any]]]) -> response.Validated:
    """The ``validated`` response: each binding's resource path, in binding order."""
    return response.Validated(
        bindings=[
            response.ValidatedBinding(resourcePath=binding.resourceConfig.path())
            for binding, _ in resolved_bindings
        ]
    )


def datetime_cursors(state: Any) -> list[datetime]:
    """The incremental cursors of ``state`` (one, or one per subtask), when all are datetimes."""
    inc = getattr(state, "inc", None)
    if isinstance(inc, ResourceState.Incremental):
        states = [inc]
    elif isinstance(inc, dict):
        states = [s for s in inc.values() if s is not None]
    else:
        return []
    cursors = [s.cursor for s in states]
    if cursors and all(isinstance(c, datetime) for c in cursors):
        return cursors  # type: ignore[return-value]
    return []


def get_min_incremental_cursor(state: ResourceState) -> datetime | None:
    """The oldest datetime incremental cursor of ``state`` (across subtasks), if any."""
    cursors = datetime_cursors(state)
    return min(cursors) if cursors else None
