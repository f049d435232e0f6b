"""The build of a materialization (flow-protocol §3.1, §3.6, §4.3): Validate with the enabled
bindings, check the Validated response, select each binding's fields from the connector's
constraints the way the control plane does, and assemble the MaterializationSpec that Apply and
Open carry."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from . import json_pointer
from .build import collection_spec, task_build_id
from .catalog import Catalog, Collection
from .config_check import check_task_configs
from .connector import Launch, unary
from .errors import BuildError, CatalogError, ProtocolError
from .field_selection import Selection, parse_constraints, select_fields
from .logs import OpsLog
from .materializations import Materialization, MaterializationBinding
from .projections import build_projections
from .selectors import check_selector, label_value
from .state_key import encode_state_key

TASK_TYPE = "materialization"


@dataclass
class BuiltMaterializationBinding:
    index: int  # the wire `binding`: index among enabled bindings
    model: MaterializationBinding
    collection: Collection
    resource_path: list[str]
    state_key: str
    delta_updates: bool
    selection: Selection
    spec: dict[str, Any]  # this binding of the MaterializationSpec


@dataclass
class BuiltMaterialization:
    materialization: Materialization
    spec_response: dict[str, Any]
    validated: dict[str, Any]  # the connector's Validated response, as it wrote it
    bindings: list[BuiltMaterializationBinding]
    version: str
    spec: dict[str, Any]  # the MaterializationSpec


def build_id_for(materialization: Materialization, catalog: Catalog) -> str:
    return task_build_id(materialization, [catalog.collections[b.source] for b in materialization.bindings])


def group_by(binding: MaterializationBinding, collection: Collection) -> list[str]:
    """`fields.groupBy`, else the collection key's canonical fields."""
    if binding.fields.group_by:
        return list(binding.fields.group_by)
    return [ptr[1:] for ptr in collection.key]


def _check_fields(m: Materialization, binding: MaterializationBinding, collection: Collection) -> None:
    """Every field the binding names must be a projection of its collection (checked before the
    connector sees the binding)."""
    known = {p["field"] for p in build_projections(collection)}
    loc = f"{binding.location}/fields"
    names = [("require", f) for f in binding.fields.require]
    names += [("exclude", f) for f in binding.fields.exclude]
    names += [("groupBy", f) for f in binding.fields.group_by or []]
    for category, name in names:
        if name not in known:
            raise CatalogError(
                m.file,
                f"{loc}/{category}" + (f"/{json_pointer.escape(name)}" if category == "require" else ""),
                f"materialization {m.name}: field {name!r} in `fields.{category}` is not a projection of "
                f"collection {collection.name!r} (its fields: {', '.join(sorted(known))})",
            )


def validate_request(
    m: Materialization,
    catalog: Catalog,
    connector_type: str,
    build_id: str,
    last: dict[str, Any] | None = None,
    last_version: str | None = None,
) -> dict[str, Any]:
    bindings = []
    for b in m.bindings:
        if b.disable:
            continue
        collection = catalog.collections[b.source]
        _check_fields(m, b, collection)
        check_selector(m, b, collection)
        entry: dict[str, Any] = {
            "resourceConfig": b.resource,
            "collection": collection_spec(collection, build_id),
        }
        if b.fields.require:
            entry["fieldConfig"] = dict(sorted(b.fields.require.items()))
        if b.backfill:
            entry["backfill"] = b.backfill
        entry["groupBy"] = group_by(b, collection)
        bindings.append(entry)
    body: dict[str, Any] = {
        "name": m.name,
        "connectorType": connector_type,
        "config": m.endpoint.config,
        "bindings": bindings,
    }
    if last is not None:
        body["lastMaterialization"] = last
    if last_version:
        body["lastVersion"] = last_version
    return {"validate": body}


def partition_selector(binding: MaterializationBinding, spec: dict[str, Any]) -> dict[str, Any]:
    include = [
        {"name": "estuary.dev/collection", "value": spec["name"]},
        {"name": "name:prefix", "value": spec["partitionTemplate"]["name"] + "/"},
    ]
    exclude: list[dict[str, str]] = []
    for target, key in ((include, "include"), (exclude, "exclude")):
        for field_name, values in ((binding.partitions or {}).get(key) or {}).items():
            for value in values if isinstance(values, list) else [values]:
                target.append({"name": f"estuary.dev/field/{field_name}", "value": label_value(value)})
    return {
        "include": {"labels": sorted(include, key=lambda label: (label["name"], label["value"]))},
        "exclude": {"labels": sorted(exclude, key=lambda label: (label["name"], label["value"]))}
        if exclude
        else {},
    }


def _validated_bindings(m: Materialization, response: dict[str, Any], expect: int) -> list[dict[str, Any]]:
    validated = response.get("validated")
    if not isinstance(validated, dict):
        raise ProtocolError(
            f"connector protocol error (expected Validated): {orjson.dumps(response).decode()}"
        )
    got = validated.get("bindings") or []
    if not isinstance(got, list) or not all(isinstance(b, dict) for b in got):
        raise ProtocolError(
            f"connector protocol error (expected Validated.bindings): {orjson.dumps(response).decode()}"
        )
    if len(got) != expect:
        raise BuildError(
            f"materialization {m.name}: connector returned {len(got)} validated bindings, but {expect} enabled "
            "bindings were sent (it must return exactly one per binding, in order)"
        )
    return got


def _describe(
    m: Materialization, index: int, b: MaterializationBinding, path: list[str] | None = None
) -> str:
    where = f"materialization {m.name} binding {index} (collection {b.source}"
    if path is not None:
        where += f", resource path {orjson.dumps(path).decode()}"
    return where + ")"


def _live_binding(last: dict[str, Any] | None, path: list[str]) -> dict[str, Any] | None:
    if not last:
        return None
    for b in [*(last.get("bindings") or []), *(last.get("inactiveBindings") or [])]:
        if isinstance(b, dict) and b.get("resourcePath") == path:
            return b
    return None


def _binding_spec(
    m: Materialization,
    b: MaterializationBinding,
    collection: Collection,
    build_id: str,
    path: list[str],
    validated: dict[str, Any],
    selection: Selection,
) -> dict[str, Any]:
    collection_json = collection_spec(collection, build_id)
    state_key = encode_state_key(path, b.backfill)
    spec: dict[str, Any] = {
        "resourceConfig": b.resource,
        "resourcePath": path,
        "collection": collection_json,
        "partitionSelector": partition_selector(b, collection_json),
    }
    if b.priority:
        spec["priority"] = b.priority
    spec["fieldSelection"] = selection.to_spec()
    if validated.get("deltaUpdates"):
        spec["deltaUpdates"] = True
    spec["journalReadSuffix"] = f"materialize/{m.name}/{state_key}"
    if b.not_before:
        spec["notBefore"] = b.not_before
    if b.not_after:
        spec["notAfter"] = b.not_after
    if b.backfill:
        spec["backfill"] = b.backfill
    spec["stateKey"] = state_key
    if isinstance(validated.get("serPolicy"), dict) and validated["serPolicy"]:
        spec["serPolicy"] = validated["serPolicy"]
    return spec


def _select(
    m: Materialization,
    index: int,
    b: MaterializationBinding,
    collection: Collection,
    path: list[str],
    validated: dict[str, Any],
    live: dict[str, Any] | None,
) -> Selection:
    try:
        constraints = parse_constraints(validated)
    except ValueError as err:
        raise ProtocolError(
            f"{_describe(m, index, b, path)}: connector returned invalid constraints: {err}"
        ) from None
    live_selection = live.get("fieldSelection") if live and live.get("backfill", 0) == b.backfill else None
    selection = select_fields(
        build_projections(collection),
        group_by(b, collection),
        b.fields.depth,
        b.fields.require,
        b.fields.exclude,
        constraints,
        live=live_selection if isinstance(live_selection, dict) else None,
        case_insensitive=bool(validated.get("caseInsensitiveFields")),
    )
    if selection.conflicts:
        lines = []
        for c in selection.conflicts:
            hint = (
                ": a backfill is needed (increment the binding's `backfill` to re-create the resource)"
                if c.needs_backfill
                else ""
            )
            lines.append(f"  {c}{hint}")
        raise BuildError(f"{_describe(m, index, b, path)} cannot select its fields:\n" + "\n".join(lines))
    return selection


def assemble(
    m: Materialization,
    catalog: Catalog,
    connector_type: str,
    build_id: str,
    response: dict[str, Any],
    last: dict[str, Any] | None = None,
) -> tuple[list[BuiltMaterializationBinding], dict[str, Any]]:
    """Bindings and the MaterializationSpec from a Validated response."""
    enabled = [b for b in m.bindings if not b.disable]
    got = _validated_bindings(m, response, len(enabled))
    built: list[BuiltMaterializationBinding] = []
    seen: dict[tuple[str, ...], int] = {}
    for i, (b, v) in enumerate(zip(enabled, got, strict=True)):
        path = v.get("resourcePath")
        if not isinstance(path, list) or not path or not all(isinstance(p, str) and p for p in path):
            raise BuildError(
                f"{_describe(m, i, b)}: connector returned an empty or invalid resource path "
                f"{orjson.dumps(path).decode()}; it must be a non-empty list of non-empty strings"
            )
        if tuple(path) in seen:
            j = seen[tuple(path)]
            raise BuildError(
                f"materialization {m.name}: bindings {j} (collection {enabled[j].source}) and {i} (collection "
                f"{b.source}) have the same resource path {orjson.dumps(path).decode()}: each binding must "
                "materialize into a distinct resource"
            )
        seen[tuple(path)] = i
        collection = catalog.collections[b.source]
        selection = _select(m, i, b, collection, path, v, _live_binding(last, path))
        binding_spec = _binding_spec(m, b, collection, build_id, path, v, selection)
        built.append(
            BuiltMaterializationBinding(
                i,
                b,
                collection,
                path,
                binding_spec["stateKey"],
                bool(v.get("deltaUpdates")),
                selection,
                binding_spec,
            )
        )
    paths = {tuple(b.resource_path) for b in built}
    inactive = [
        b
        for b in [*((last or {}).get("bindings") or []), *((last or {}).get("inactiveBindings") or [])]
        if isinstance(b, dict) and tuple(b.get("resourcePath") or ()) not in paths
    ]
    labels = [
        {"name": "app.gazette.dev/managed-by", "value": "estuary.dev/flow"},
        {"name": "estuary.dev/build", "value": build_id},
        {"name": "estuary.dev/log-level", "value": m.log_level},
        {"name": "estuary.dev/task-name", "value": m.name},
        {"name": "estuary.dev/task-type", "value": TASK_TYPE},
    ]
    spec: dict[str, Any] = {
        "name": m.name,
        "connectorType": connector_type,
        "config": m.endpoint.config,
        "bindings": [b.spec for b in built],
        "shardTemplate": {"id": f"materialize/{m.name}/{build_id}", "labels": {"labels": labels}},
        "recoveryLogTemplate": {"name": f"recovery/materialize/{m.name}/{build_id}"},
    }
    if inactive:
        spec["inactiveBindings"] = inactive
    return built, spec


async def build_materialization(
    catalog: Catalog,
    m: Materialization,
    launch: Launch,
    on_log: Callable[[OpsLog], None],
    last: dict[str, Any] | None = None,
    last_version: str | None = None,
) -> BuiltMaterialization:
    """Spec + Validate (fresh process) and assembly of the MaterializationSpec. `last` is the
    previously applied spec, if any (it carries the live field selections)."""
    build_id = build_id_for(m, catalog)
    request = validate_request(m, catalog, launch.connector_type, build_id, last, last_version)
    spec, response = await unary(
        launch, request, "validated", on_log, check=lambda s: check_task_configs(m, s)
    )
    built, materialization_spec = assemble(m, catalog, launch.connector_type, build_id, response, last)
    return BuiltMaterialization(m, spec, response, built, build_id, materialization_spec)
