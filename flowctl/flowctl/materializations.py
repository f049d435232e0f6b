"""Materializations in a catalog (flow-protocol §4.10): their bindings, each reading a source
collection into a resource of the endpoint, with the user's field selection.

Parsed strictly: a misspelt key (`target:` where a materialization binding reads `source:`,
`include` and `require` together) is an error naming the file and JSON pointer, like every
other catalog error."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import CatalogError

if TYPE_CHECKING:
    from .endpoints import Endpoint

_BINDING_KEYS = frozenset(
    {"resource", "source", "fields", "backfill", "disable", "priority", "onIncompatibleSchemaChange"}
)
_FIELDS_KEYS = frozenset({"recommended", "require", "include", "exclude", "groupBy"})
_SOURCE_KEYS = frozenset({"name", "partitions", "notBefore", "notAfter"})


@dataclass
class Fields:
    """A binding's `fields`: recommended (True: any depth, False: none, N: depth N), fields the
    user requires (with their connector-specific config), excludes, and an optional group-by."""

    recommended: bool | int = True
    require: dict[str, Any] = field(default_factory=dict)
    exclude: list[str] = field(default_factory=list)
    group_by: list[str] | None = None

    @property
    def depth(self) -> int | None:
        """The recommended depth: None for any depth, 0 for none."""
        if self.recommended is True:
            return None
        if self.recommended is False:
            return 0
        return int(self.recommended)


@dataclass
class MaterializationBinding:
    resource: dict[str, Any]
    source: str
    fields: Fields
    backfill: int
    disable: bool
    priority: int
    location: str
    partitions: dict[str, Any] | None = None
    not_before: str | None = None
    not_after: str | None = None
    on_incompatible_schema_change: str | None = None


@dataclass
class Materialization:
    name: str
    endpoint: Endpoint
    bindings: list[MaterializationBinding]
    log_level: str
    file: str
    location: str
    raw: dict[str, Any]
    kind: str = "materialization"


def _bool(value: Any, file: str, loc: str, name: str) -> bool:
    if not isinstance(value, bool):
        raise CatalogError(file, loc, f"`{name}` must be true or false")
    return value


def _count(value: Any, file: str, loc: str, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise CatalogError(file, loc, f"`{name}` must be a non-negative integer")
    return value


def _field_list(value: Any, file: str, loc: str, name: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(f, str) and f for f in value):
        raise CatalogError(file, loc, f"`{name}` must be a list of field names")
    return list(value)


def parse_fields(value: Any, file: str, loc: str) -> Fields:
    if value is None:
        return Fields()
    if not isinstance(value, dict):
        raise CatalogError(file, loc, "`fields` must be a mapping (recommended, require, exclude, groupBy)")
    for key in value:
        if key not in _FIELDS_KEYS:
            raise CatalogError(
                file,
                f"{loc}/{key}",
                f"unknown key {key!r} in `fields` (expected one of {sorted(_FIELDS_KEYS)})",
            )
    if "require" in value and "include" in value:
        raise CatalogError(file, loc, "`include` is another name for `require`: give only one of them")
    recommended = value.get("recommended", True)
    if not isinstance(recommended, bool) and (not isinstance(recommended, int) or recommended < 0):
        raise CatalogError(
            file,
            f"{loc}/recommended",
            "`recommended` must be true, false or a depth (a non-negative integer)",
        )
    require_key = "include" if "include" in value else "require"
    require = value.get(require_key) or {}
    if not isinstance(require, dict):
        raise CatalogError(
            file, f"{loc}/{require_key}", f"`{require_key}` must be a mapping of field to its config"
        )
    exclude = _field_list(value.get("exclude") or [], file, f"{loc}/exclude", "exclude")
    for i, name in enumerate(exclude):
        if name in require:
            raise CatalogError(file, f"{loc}/exclude/{i}", f"field {name!r} is both required and excluded")
    group_by = value.get("groupBy")
    if group_by is not None:
        group_by = _field_list(group_by, file, f"{loc}/groupBy", "groupBy")
        if not group_by:
            raise CatalogError(file, f"{loc}/groupBy", "`groupBy` must name at least one field")
    return Fields(recommended, {str(k): v for k, v in require.items()}, exclude, group_by)


def _source(binding: dict[str, Any], file: str, loc: str) -> tuple[str, dict[str, Any] | None, Any, Any]:
    source = binding.get("source")
    if isinstance(source, str) and source:
        return source, None, None, None
    if isinstance(source, dict):
        for key in source:
            if key not in _SOURCE_KEYS:
                raise CatalogError(
                    file,
                    f"{loc}/source/{key}",
                    f"unknown key {key!r} in `source` (expected {sorted(_SOURCE_KEYS)})",
                )
        name = source.get("name")
        if isinstance(name, str) and name:
            partitions = source.get("partitions")
            if partitions is not None and (
                not isinstance(partitions, dict)
                or not set(partitions) <= {"include", "exclude"}
                or not all(isinstance(v, dict) for v in partitions.values())
            ):
                raise CatalogError(
                    file,
                    f"{loc}/source/partitions",
                    "`partitions` must be {include: {field: [values]}, exclude: {field: [values]}}",
                )
            for key in ("notBefore", "notAfter"):
                if key in source and not isinstance(source[key], str):
                    raise CatalogError(file, f"{loc}/source/{key}", f"`{key}` must be an RFC 3339 timestamp")
            return name, partitions, source.get("notBefore"), source.get("notAfter")
    hint = (
        " (a materialization binding reads a `source`; `target` is for captures)"
        if "target" in binding
        else ""
    )
    raise CatalogError(
        file,
        f"{loc}/source",
        f"`source` must be a collection name or {{name: <collection>, partitions: …}}{hint}",
    )


def parse_bindings(
    raw_bindings: Any, file: str, loc: str, load_resource: Callable[[str, str], Any]
) -> list[MaterializationBinding]:
    """The bindings of one materialization; `load_resource(ref, location)` loads a resource
    config given as a file reference."""
    if raw_bindings is None:
        return []
    if not isinstance(raw_bindings, list):
        raise CatalogError(file, loc, "`bindings` must be a list")
    out: list[MaterializationBinding] = []
    for i, b in enumerate(raw_bindings):
        bloc = f"{loc}/{i}"
        if not isinstance(b, dict):
            raise CatalogError(file, bloc, "a binding must be a mapping with `resource` and `source`")
        source, partitions, not_before, not_after = _source(b, file, bloc)
        for key in b:
            if key not in _BINDING_KEYS:
                raise CatalogError(
                    file,
                    f"{bloc}/{key}",
                    f"unknown key {key!r} in a materialization binding (expected {sorted(_BINDING_KEYS)})",
                )
        resource = b.get("resource")
        if isinstance(resource, str):
            resource = load_resource(resource, bloc + "/resource")
        if not isinstance(resource, dict):
            raise CatalogError(file, bloc + "/resource", "`resource` must be an object (the resource config)")
        change = b.get("onIncompatibleSchemaChange")
        if change is not None and not isinstance(change, str):
            raise CatalogError(
                file, bloc + "/onIncompatibleSchemaChange", "must be a string such as `backfill`"
            )
        out.append(
            MaterializationBinding(
                resource=resource,
                source=source,
                fields=parse_fields(b.get("fields"), file, bloc + "/fields"),
                backfill=_count(b.get("backfill", 0), file, bloc + "/backfill", "backfill"),
                disable=_bool(b.get("disable", False), file, bloc + "/disable", "disable"),
                priority=_count(b.get("priority", 0), file, bloc + "/priority", "priority"),
                location=bloc,
                partitions=partitions,
                not_before=not_before,
                not_after=not_after,
                on_incompatible_schema_change=change,
            )
        )
    return out
