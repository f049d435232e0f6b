"""A collection's projections (flow-protocol §4.1): the named fields a materialization can
select, each a JSON pointer with `inference` about what it holds.

Like the Flow build: the user's `projections` first (explicit, possibly partition keys), then
the collection key's canonical fields, then one canonical projection per named location of the
schema at any depth (field = pointer without its leading `/`); plus the synthetic
`flow_document` (the root), `flow_published_at` (the time inside `/_meta/uuid`) and
`_meta/flow_truncated`. Ordered by field; a field keeps its first definition, and a user
projection may not give a canonical field another location. Materializations read documents
with the read schema when the collection has one, so that is what inference describes."""

from __future__ import annotations

from typing import Any

from . import json_pointer
from . import shape as shapes
from .catalog import Collection
from .errors import CatalogError

FLOW_DOCUMENT = "flow_document"
FLOW_PUBLISHED_AT = "flow_published_at"
FLOW_TRUNCATED = "_meta/flow_truncated"
UUID_PTR = "/_meta/uuid"
TRUNCATED_PTR = "/_meta/flow_truncated"
_UUID_DATE_TIME_PTR = "/_meta/uuid/date-time"  # how a user projection names the publication time

PUBLISHED_AT_INFERENCE: dict[str, Any] = {
    "types": ["string"],
    "string": {"format": "date-time", "contentEncoding": "uuid"},
    "title": "Flow Publication Time",
    "description": "Flow publication date-time of this document",
    "exists": "MUST",
}
TRUNCATED_INFERENCE: dict[str, Any] = {
    "types": ["boolean"],
    "title": "Flow truncation indicator",
    "description": "Indicates whether any of the materialized values for this row have been truncated "
    "to make them fit inside the limitations of the destination system.",
    "exists": "MUST",
}


def _projection(
    field: str,
    ptr: str,
    inference: dict[str, Any],
    explicit: bool = False,
    partition: bool = False,
    primary: bool = False,
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if ptr:
        out["ptr"] = ptr
    out["field"] = field
    if explicit:
        out["explicit"] = True
    if partition:
        out["isPartitionKey"] = True
    if primary:
        out["isPrimaryKey"] = True
    out["inference"] = inference
    return out


def _explicit(collection: Collection, field: str, value: Any) -> tuple[str, bool]:
    where = f"{collection.location}/projections/{json_pointer.escape(field)}"
    if isinstance(value, str):
        ptr, partition = value, False
    elif isinstance(value, dict) and isinstance(value.get("location"), str):
        ptr, partition = value["location"], bool(value.get("partition", False))
    else:
        raise CatalogError(
            collection.file,
            where,
            "a projection is a JSON pointer, or {location: <pointer>, partition: true}",
        )
    if ptr and not ptr.startswith("/"):
        raise CatalogError(
            collection.file, where, f"projection location {ptr!r} must be a JSON pointer like /a/b"
        )
    return ptr, partition


def build_projections(collection: Collection) -> list[dict[str, Any]]:
    """The collection's projections, ordered by field (computed once per collection)."""
    if collection.built_projections is not None:
        return collection.built_projections
    root = shapes.shape_of(collection.read_schema or collection.write_schema)
    specs: list[dict[str, Any]] = []
    saw_root = saw_published_at = False
    for field, value in collection.projections.items():
        ptr, partition = _explicit(collection, str(field), value)
        if ptr in ("", "/"):
            saw_root, ptr = True, ""
        elif ptr == _UUID_DATE_TIME_PTR and not partition:
            saw_published_at = True
            specs.append(_projection(str(field), UUID_PTR, PUBLISHED_AT_INFERENCE, explicit=True))
            continue
        at, exists = shapes.locate(root, ptr)
        specs.append(
            _projection(
                str(field),
                ptr,
                shapes.inference(at, exists),
                explicit=True,
                partition=partition,
                primary=ptr in collection.key,
            )
        )
    if not saw_root:
        specs.append(_projection(FLOW_DOCUMENT, "", shapes.inference(root, shapes.MUST)))
    if not saw_published_at:
        specs.append(_projection(FLOW_PUBLISHED_AT, UUID_PTR, PUBLISHED_AT_INFERENCE))
    specs.append(_projection(FLOW_TRUNCATED, TRUNCATED_PTR, TRUNCATED_INFERENCE))
    for ptr in collection.key:
        at, exists = shapes.locate(root, ptr)
        specs.append(_projection(ptr[1:], ptr, shapes.inference(at, exists), primary=True))
    for ptr, at, exists in shapes.locations(root):
        if ptr[1:] != FLOW_DOCUMENT:
            specs.append(_projection(ptr[1:], ptr, shapes.inference(at, exists)))
    specs.sort(key=lambda p: p["field"])  # stable: explicit, then key, then inferred
    out: list[dict[str, Any]] = []
    for spec in specs:
        if out and out[-1]["field"] == spec["field"]:
            first = out[-1]
            if first.get("ptr", "") != spec.get("ptr", "") and first.get("explicit"):
                raise CatalogError(
                    collection.file,
                    f"{collection.location}/projections/{json_pointer.escape(spec['field'])}",
                    f"projection {spec['field']!r} maps to {first.get('ptr', '')!r}, but {spec['field']!r} is "
                    f"the canonical field of location {spec.get('ptr', '')!r}: choose another field name",
                )
            continue
        out.append(spec)
    collection.built_projections = out
    return out


def partition_fields(projections: list[dict[str, Any]]) -> list[str]:
    return [p["field"] for p in projections if p.get("isPartitionKey")]
