"""Validate for SQL destinations: one constraint per field of a binding's collection, decided from
the collection's schema, the table the destination already has, and the last published binding
(materialize-sql.md §1; the reason texts are Estuary's, so users meet the same words).

A binding is "new" when its table does not exist or its backfill counter changed (the table will
be truncated or replaced, so nothing in it constrains the new selection); otherwise every field
is checked against its existing column: a compatible column keeps the field (required when it is
a key or the document), an incompatible one makes it INCOMPATIBLE unless the type can be widened
in place. Problems no constraint can express (a nullable key without a default, a table that
already exists for a binding this materialization never had, switching delta updates off) are
returned as errors, all at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ...flow import Projection
from ..request import MaterializationBinding, ValidateBinding
from ..response import Constraint
from .dialect import Dialect
from .migrations import Migrations
from .table import ExistingTable
from .types import FlatType, TypeMap, flat_type

__all__ = ["BindingCheck", "validate_binding"]

_SCALARS = {FlatType.BOOLEAN, FlatType.INTEGER, FlatType.NUMBER, FlatType.STRING, FlatType.BINARY}


@dataclass
class BindingCheck:
    """Everything Validate knows about one binding."""

    binding: ValidateBinding[Any]
    resource_path: list[str]
    delta_updates: bool
    existing: ExistingTable | None
    last: MaterializationBinding[Any] | None
    # The destination shows this materialization ran before (its checkpoint row exists), so a
    # table it finds without a last binding is its own from an earlier run (e.g. a local preview).
    materialization_known: bool = False


def _types_text(projection: Projection) -> str:
    return "{ type: [" + ", ".join(projection.inference.types) + "] }"


def _base(projection: Projection, delta: bool, is_key: bool) -> Constraint:
    """The constraint of a field of a new binding (materialize-sql.md §1.3, first match wins)."""
    if projection.isPrimaryKey or is_key:
        return Constraint(
            type="LOCATION_RECOMMENDED",
            reason="All Locations that are part of the collections key are recommended",
        )
    if not projection.ptr:
        if delta:
            return Constraint(
                type="LOCATION_RECOMMENDED", reason="The root document should usually be materialized"
            )
        return Constraint(type="LOCATION_REQUIRED", reason="The root document must be materialized")
    flat, _ = flat_type(projection)
    if flat is FlatType.NEVER:
        return Constraint(type="FIELD_FORBIDDEN", reason="Cannot materialize a field with no types")
    if flat is FlatType.NULL:
        return Constraint(
            type="FIELD_FORBIDDEN", reason="Cannot materialize a field where the only possible type is 'null'"
        )
    if projection.field == "_meta/op":
        return Constraint(
            type="LOCATION_RECOMMENDED", reason="The operation type should usually be materialized"
        )
    if projection.field.startswith("_meta/"):
        return Constraint(type="FIELD_OPTIONAL", reason="Metadata fields are able to be materialized")
    if flat in _SCALARS or flat in (FlatType.STRING_INTEGER, FlatType.STRING_NUMBER):
        return Constraint(type="LOCATION_RECOMMENDED", reason="The projection has a single scalar type")
    if flat is FlatType.OBJECT:
        return Constraint(type="FIELD_OPTIONAL", reason="Object fields may be materialized")
    return Constraint(type="LOCATION_RECOMMENDED", reason="This field is able to be materialized")


def _optional(c: Constraint) -> bool:
    return c.type in ("LOCATION_RECOMMENDED", "FIELD_OPTIONAL")


def _key_fields(check: BindingCheck) -> list[str]:
    b = check.binding
    if b.groupBy:
        return list(b.groupBy)
    by_ptr = {p.ptr: p.field for p in b.collection.projections if p.ptr}
    return [by_ptr.get(ptr, ptr.lstrip("/")) for ptr in b.collection.key]


def hard_errors(check: BindingCheck) -> list[str]:
    """What makes Validate fail for this binding (materialize-sql.md §1.2)."""
    b = check.binding
    name, path = b.collection.name, ".".join(check.resource_path)
    errors: list[str] = []
    by_field = {p.field: p for p in b.collection.projections}
    for key in _key_fields(check):
        p = by_field.get(key)
        if p is None:
            errors.append(f"collection '{name}' has no field '{key}' to group by (binding for table {path})")
            continue
        nullable = p.inference.exists != "MUST" or "null" in p.inference.types
        if nullable and p.inference.default is None:
            errors.append(
                f"cannot materialize collection '{name}' with nullable key field '{key}' unless it has a "
                "default value annotation"
            )
    if check.last is None and check.existing is not None and not check.materialization_known:
        errors.append(
            f"table {path} already exists for new binding of collection '{name}', and this materialization did "
            "not create it: choose another table name, or drop the table if it is no longer needed"
        )
    if check.last is not None and check.last.deltaUpdates and not check.delta_updates:
        errors.append(
            f"binding for table {path}: changing from delta updates to standard updates is not allowed "
            "(backfill into a new table instead)"
        )
    if not check.delta_updates and not any(not p.ptr for p in b.collection.projections):
        errors.append(f"collection '{name}' has no root document projection, which standard updates require")
    return errors


def validate_binding(
    check: BindingCheck, dialect: Dialect, types: TypeMap, migrations: Migrations
) -> dict[str, Constraint]:
    """The constraint of every projection of the binding's collection."""
    b = check.binding
    keys = set(_key_fields(check))
    new = check.existing is None or (check.last is not None and b.backfill != check.last.backfill)
    out: dict[str, Constraint] = {}
    roots = [p for p in b.collection.projections if not p.ptr]
    first_root = roots[0].field if roots else None
    for p in b.collection.projections:
        base = _base(p, check.delta_updates, p.field in keys)
        if new:
            c = _new_binding(p, base, check, first_root)
        else:
            c = _existing(p, base, check, dialect, types, migrations, keys, first_root)
        folded = dialect.folded(p.field)
        if dialect.case_insensitive and not folded and p.field.lower() != p.field:
            folded = p.field.lower()  # names differing only in case are one column here
        if folded:
            c = Constraint(type=c.type, reason=c.reason, foldedField=folded)
        out[p.field] = c
    return out


def _new_binding(p: Projection, base: Constraint, check: BindingCheck, first_root: str | None) -> Constraint:
    if check.delta_updates:
        return base
    key = check.binding.collection.key
    if key and p.ptr == key[0] and _optional(base):
        return Constraint(
            type="LOCATION_REQUIRED",
            reason="The first collection key component is required to be included for standard updates",
        )
    if not p.ptr and p.field != first_root:
        return Constraint(
            type="FIELD_FORBIDDEN",
            reason="Only a single root document projection can be materialized for standard updates",
        )
    return base


def _existing(
    p: Projection,
    base: Constraint,
    check: BindingCheck,
    dialect: Dialect,
    types: TypeMap,
    migrations: Migrations,
    keys: set[str],
    first_root: str | None,
) -> Constraint:
    if base.type == "FIELD_FORBIDDEN":
        return base
    existing, last = check.existing, check.last
    assert existing is not None
    column = existing.column(p.field, dialect)
    config = check.binding.fieldConfig.get(p.field)
    is_key = p.field in keys
    mapped = types.map(p, config, is_key=is_key)
    incompatible = (
        column is not None
        and not mapped.compatible(column.data_type)
        and not (not is_key and migrations.target(column.data_type, mapped.column.ddl) is not None)
    )
    if not check.delta_updates and not p.ptr:
        document = last.fieldSelection.document if last is not None else first_root
        if last is not None and not last.fieldSelection.document:
            return Constraint(
                type="INCOMPATIBLE",
                reason=f"Cannot add a new root document projection '{p.field}' without backfilling",
            )
        if p.field == document:
            if incompatible:
                return _incompatible(p, column.data_type if column else "", mapped.column.ddl)
            return Constraint(
                type="FIELD_REQUIRED", reason="This field is the document in the current materialization"
            )
        return Constraint(
            type="FIELD_FORBIDDEN",
            reason=f"The root document must be materialized by only one field, and field '{document}' is already "
            "being materialized as the document",
        )
    if not check.delta_updates and is_key and last is not None and p.field not in last.fieldSelection.keys:
        if p.field not in last.fieldSelection.values:
            return Constraint(
                type="FIELD_FORBIDDEN",
                reason=f"Cannot add a new key location '{p.field}' without backfilling",
            )
    if column is None:
        return base
    if incompatible:
        return _incompatible(p, column.data_type, mapped.column.ddl)
    if is_key:
        return Constraint(type="FIELD_REQUIRED", reason="This field is a key in the current materialization")
    return Constraint(type="FIELD_OPTIONAL", reason="This location is part of the current materialization")


def _incompatible(p: Projection, existing: str, required: str) -> Constraint:
    return Constraint(
        type="INCOMPATIBLE",
        reason=f"Field '{p.field}' is already being materialized as endpoint type '{existing.upper()}' but "
        f"endpoint type '{required.upper()}' is required by its schema '{_types_text(p)}'",
    )


def last_binding(
    last_spec_bindings: Sequence[MaterializationBinding[Any]], resource_path: Sequence[str]
) -> MaterializationBinding[Any] | None:
    """The binding of the last published spec with this resource path (active ones first)."""
    for b in last_spec_bindings:
        if list(b.resourcePath) == list(resource_path):
            return b
    return None
