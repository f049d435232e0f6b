"""Field selection of a materialization binding, as Flow's control plane computes it from the
collection's projections, the user's `fields`, the connector's constraints and the live
selection (flow-protocol §3.6, materialize-sql §7.3).

Every field gathers reasons to select it (group-by key, required by the user or the connector,
the live document/values, within the recommended depth, ...) and reasons to reject it
(excluded, forbidden, incompatible, not offered by the connector, a location already
covered, ...). The strongest of each decides: weak selections give way to any rejection, strong
ones against a rejection are conflicts, reported as errors. Fields are visited strongest
selection first, so a group-by key claims its location before a recommended alias could."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from . import json_pointer

CONSTRAINT_TYPES = {
    0: "INVALID",
    1: "FIELD_REQUIRED",
    2: "LOCATION_REQUIRED",
    3: "LOCATION_RECOMMENDED",
    4: "FIELD_OPTIONAL",
    5: "FIELD_FORBIDDEN",
    6: "INCOMPATIBLE",
    7: "UNSATISFIABLE",
}


class Select(IntEnum):
    """Why a field is selected, weakest first."""

    DESIRED_DEPTH = 1
    CORE_METADATA = 2
    CONNECTOR_REQUIRES_LOCATION = 3
    USER_DEFINED = 4
    CURRENT_VALUE = 5
    PARTITION_KEY = 6
    CONNECTOR_REQUIRES = 7
    USER_REQUIRES = 8
    CURRENT_DOCUMENT = 9
    GROUP_BY_KEY = 10


class Reject(IntEnum):
    """Why a field is not selected, weakest first."""

    NOT_SELECTED = 1
    COVERED_LOCATION = 2
    EXCLUDED_PARENT = 3
    DUPLICATE_LOCATION = 4
    DUPLICATE_FOLD = 5
    CONNECTOR_OMITS = 6
    COLLECTION_OMITS = 7
    CONNECTOR_INCOMPATIBLE = 8
    CONNECTOR_FORBIDS = 9
    USER_EXCLUDES = 10


_SELECT_TEXT = {
    Select.DESIRED_DEPTH: "the field is within the recommended depth",
    Select.CORE_METADATA: "the field is important metadata which is typically selected",
    Select.CONNECTOR_REQUIRES_LOCATION: "the connector requires its location",
    Select.USER_DEFINED: "the field is a user-defined projection",
    Select.CURRENT_VALUE: "the field is part of the current materialization",
    Select.PARTITION_KEY: "the field is a partition key of the collection",
    Select.CONNECTOR_REQUIRES: "the connector requires the field",
    Select.USER_REQUIRES: "the field is required by the binding's `fields.require`",
    Select.CURRENT_DOCUMENT: "the field currently stores the document",
    Select.GROUP_BY_KEY: "the field is part of the group-by key",
}
_REJECT_TEXT = {
    Reject.NOT_SELECTED: "the field meets no selection criteria",
    Reject.COVERED_LOCATION: "its location is underneath another selected field",
    Reject.EXCLUDED_PARENT: "its parent location is excluded by `fields.exclude`",
    Reject.DUPLICATE_LOCATION: "its location is already materialized by another selected field",
    Reject.DUPLICATE_FOLD: "the endpoint would name it like another selected field",
    Reject.CONNECTOR_OMITS: "the connector returned no constraint for it",
    Reject.COLLECTION_OMITS: "the field does not exist in the source collection",
    Reject.CONNECTOR_INCOMPATIBLE: "the connector cannot support it without a backfill",
    Reject.CONNECTOR_FORBIDS: "the connector forbids it",
    Reject.USER_EXCLUDES: "the field is excluded by `fields.exclude`",
}


@dataclass
class Reason:
    kind: Any  # Select or Reject
    detail: str = ""  # the connector's reason, or the other field of a duplicate fold

    def __str__(self) -> str:
        # Select and Reject values overlap as integers: look each up in its own table.
        text = _SELECT_TEXT[self.kind] if isinstance(self.kind, Select) else _REJECT_TEXT[self.kind]
        return f"{text} ({self.detail})" if self.detail else text


@dataclass
class Conflict:
    field: str
    select: Reason
    reject: Reason

    @property
    def needs_backfill(self) -> bool:
        return bool(self.reject.kind == Reject.CONNECTOR_INCOMPATIBLE)

    def __str__(self) -> str:
        return f"field {self.field!r}: {self.select} but {self.reject}"


@dataclass
class Constraint:
    type: str
    reason: str = ""
    folded_field: str = ""


@dataclass
class Selection:
    keys: list[str]
    values: list[str]
    document: str
    field_config: dict[str, Any] = field(default_factory=dict)
    conflicts: list[Conflict] = field(default_factory=list)

    def to_spec(self) -> dict[str, Any]:
        """`flow.FieldSelection` as proto3 JSON (empty fields omitted)."""
        out: dict[str, Any] = {"keys": self.keys}
        if self.values:
            out["values"] = self.values
        if self.document:
            out["document"] = self.document
        if self.field_config:
            out["fieldConfig"] = self.field_config
        return out


def is_parent_of(parent: str, child: str) -> bool:
    return len(child) > len(parent) and child.startswith(parent + "/")


def _desired(p: dict[str, Any], nxt: dict[str, Any] | None, depth: int | None) -> bool:
    """Whether the recommended depth (None: any) selects projection `p` (`nxt` follows it in
    pointer order)."""
    ptr = p.get("ptr", "")
    tokens = len(json_pointer.split(ptr)) if ptr else 0
    if depth == 0 or ptr.startswith("/_meta"):
        return False  # `_meta` is never selected for depth: only its core fields are
    if depth is not None and tokens == depth:
        return True
    if depth is not None and tokens > depth:
        return False
    types = set(p.get("inference", {}).get("types", []))
    if types not in ({"object"}, {"object", "null"}):
        return True  # a location above the depth that is not an object
    # An object with no projected children, unless any depth is recommended.
    has_children = nxt is not None and is_parent_of(ptr, nxt.get("ptr", ""))
    return not has_children and depth is not None


def select_fields(
    projections: list[dict[str, Any]],
    group_by: list[str],
    depth: int | None,
    require: dict[str, Any],
    exclude: list[str],
    constraints: list[tuple[str, Constraint]],
    live: dict[str, Any] | None = None,
    case_insensitive: bool = False,
) -> Selection:
    """The binding's field selection and its conflicts. `live` is the live binding's
    `fieldSelection` (when the binding is not being backfilled)."""
    selects: dict[str, Reason] = {}
    rejects: dict[str, Reason] = {}

    def add(table: dict[str, Reason], name: str, reason: Reason) -> None:
        if name not in table or reason.kind > table[name].kind:
            table[name] = reason

    for name in group_by:
        add(selects, name, Reason(Select.GROUP_BY_KEY))
    if live:
        if live.get("document"):
            add(selects, live["document"], Reason(Select.CURRENT_DOCUMENT))
        for name in live.get("values") or []:
            add(selects, name, Reason(Select.CURRENT_VALUE))
    for name in require:
        add(selects, name, Reason(Select.USER_REQUIRES))
    for name in exclude:
        add(rejects, name, Reason(Reject.USER_EXCLUDES))

    by_ptr = sorted(projections, key=lambda p: p.get("ptr", ""))
    for i, p in enumerate(by_ptr):
        name = p["field"]
        if p.get("isPartitionKey"):
            add(selects, name, Reason(Select.PARTITION_KEY))
        if depth != 0 and p.get("explicit"):
            add(selects, name, Reason(Select.USER_DEFINED))
        if depth != 0 and name in ("flow_published_at", "_meta/op"):
            add(selects, name, Reason(Select.CORE_METADATA))
        if _desired(p, by_ptr[i + 1] if i + 1 < len(by_ptr) else None, depth):
            add(selects, name, Reason(Select.DESIRED_DEPTH))

    first_constraint: dict[str, Constraint] = {}
    for name, c in constraints:
        first_constraint.setdefault(name, c)
        if c.type == "FIELD_REQUIRED":
            add(selects, name, Reason(Select.CONNECTOR_REQUIRES, c.reason))
        elif c.type == "LOCATION_REQUIRED":
            add(selects, name, Reason(Select.CONNECTOR_REQUIRES_LOCATION, c.reason))
        elif c.type == "FIELD_FORBIDDEN":
            add(rejects, name, Reason(Reject.CONNECTOR_FORBIDS, c.reason))
        elif c.type in ("INCOMPATIBLE", "UNSATISFIABLE") and live is not None:
            add(rejects, name, Reason(Reject.CONNECTOR_INCOMPATIBLE, c.reason))

    by_field = {p["field"]: p for p in projections}
    names = set(selects) | set(rejects) | set(by_field) | set(first_constraint)
    for name in names:
        if name not in first_constraint:
            add(rejects, name, Reason(Reject.CONNECTOR_OMITS))
    # Strongest selection first; among equals, by field name.
    order = sorted(names, key=lambda n: (-(selects[n].kind if n in selects else 0), n))

    excluded_parents = [
        by_field[n]["ptr"]
        for n in names
        if n in rejects
        and rejects[n].kind == Reject.USER_EXCLUDES
        and by_field.get(n, {}).get("ptr", "")[1:] == n
    ]
    document = ""
    selected_ptrs: list[str] = []
    folds: dict[str, str] = {}
    outcomes: dict[str, tuple[Reason | None, Reason | None]] = {}
    for name in order:
        select, reject = selects.get(name), rejects.get(name)
        projection = by_field.get(name)
        ptr = projection.get("ptr", "") if projection else ""
        if projection is None:
            reject = _max(reject, Reason(Reject.COLLECTION_OMITS))
        constraint = first_constraint.get(name)
        folded = constraint.folded_field if constraint and constraint.folded_field else name
        uncased = folded.lower() if case_insensitive else folded
        if uncased in folds:
            reject = _max(
                reject,
                Reason(Reject.DUPLICATE_FOLD, f"as {folded!r}, like selected field {folds[uncased]!r}"),
            )
        weak = (None, Select.CORE_METADATA, Select.DESIRED_DEPTH, Select.CONNECTOR_REQUIRES_LOCATION)
        select_kind = select.kind if select else None
        if ptr and ptr in selected_ptrs:
            if select_kind in weak:
                select, reject = None, _max(reject, Reason(Reject.DUPLICATE_LOCATION))
        elif any(is_parent_of(s, ptr) for s in selected_ptrs if ptr):
            if select_kind in (None, Select.DESIRED_DEPTH):
                select, reject = None, _max(reject, Reason(Reject.COVERED_LOCATION))
        elif any(is_parent_of(x, ptr) for x in excluded_parents if ptr):
            if select_kind in (None, Select.DESIRED_DEPTH):
                select, reject = None, _max(reject, Reason(Reject.EXCLUDED_PARENT))
        if select is not None and reject is not None and reject.kind != Reject.CONNECTOR_INCOMPATIBLE:
            overridable = (
                Select.DESIRED_DEPTH,
                Select.CORE_METADATA,
                Select.USER_DEFINED,
                Select.CURRENT_VALUE,
                Select.PARTITION_KEY,
            )
            if select.kind in overridable:
                select = None
        outcomes[name] = (select, reject)
        if select is not None and reject is None:
            if ptr:
                selected_ptrs.append(ptr)
            elif not document:
                document = name
            folds[uncased] = name

    values: list[str] = []
    conflicts: list[Conflict] = []
    for name in sorted(outcomes):
        select, reject = outcomes[name]
        if select is None:
            continue
        if reject is not None:
            conflicts.append(Conflict(name, select, reject))
            if reject.kind != Reject.CONNECTOR_INCOMPATIBLE:
                continue
        if name != document and name not in group_by:
            values.append(name)
    field_config = {name: require[name] for name in sorted(require)}
    return Selection(list(group_by), values, document, field_config, conflicts)


def _max(a: Reason | None, b: Reason) -> Reason:
    return b if a is None or b.kind > a.kind else a


def parse_constraints(validated_binding: dict[str, Any]) -> list[tuple[str, Constraint]]:
    """(field, constraint) pairs of a Validated binding, from the newer `projectionConstraints`
    list when present, else the `constraints` map. Raises ValueError naming a bad entry."""
    out: list[tuple[str, Constraint]] = []
    listed = validated_binding.get("projectionConstraints")
    if listed is not None:
        if not isinstance(listed, list):
            raise ValueError("`projectionConstraints` must be a list of {field, constraint}")
        entries = [
            (e.get("field"), e.get("constraint")) if isinstance(e, dict) else (None, None) for e in listed
        ]
    else:
        mapped = validated_binding.get("constraints") or {}
        if not isinstance(mapped, dict):
            raise ValueError("`constraints` must be a map of field to constraint")
        entries = list(mapped.items())
    for name, c in entries:
        if not isinstance(name, str) or not isinstance(c, dict):
            raise ValueError(f"malformed constraint entry for field {name!r}: {c!r}")
        kind = c.get("type", 0)
        kind = CONSTRAINT_TYPES.get(kind, str(kind)) if isinstance(kind, int) else kind
        if kind not in CONSTRAINT_TYPES.values() or kind == "INVALID":
            raise ValueError(f"unknown constraint type {c.get('type')!r} for field {name!r}")
        out.append((name, Constraint(kind, str(c.get("reason", "")), str(c.get("foldedField", "")))))
    return out
