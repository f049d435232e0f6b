"""`flowctl raw discover`: run Discover and either print the raw bindings (`--emit-raw`) or write
them into the catalog like the real flowctl does: `<prefix>/<name>.schema.yaml` per collection,
`<prefix>/flow.yaml` declaring the collections, the capture's bindings, and an `import` of
`<prefix>/flow.yaml` in the file that defines the capture."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import orjson
import yaml

from . import json_pointer
from .catalog import Capture, Catalog
from .errors import CatalogError, ConnectorError
from .keys import key_problems

_BINDING_FIELDS = (
    "recommendedName",
    "resourceConfig",
    "documentSchema",
    "key",
    "disable",
    "resourcePath",
    "isFallbackKey",
)
_SPEC_FIELDS = (
    "protocol",
    "configSchema",
    "resourceConfigSchema",
    "documentationUrl",
    "oauth2",
    "resourcePathPointers",
)
_UNSAFE = re.compile(r"[^\w\-./]+")


def _is_default(value: Any) -> bool:
    """proto3 defaults (omitted in JSON). Raw-JSON fields such as `{}` are not defaults."""
    if value is None or value is False or value == "" or value == []:
        return True
    return type(value) is int and value == 0


def canonical(message: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    """Re-serialize like the Rust flowctl: proto field order, defaults omitted, unknown fields
    kept at the end."""
    out = {f: message[f] for f in fields if f in message and not _is_default(message[f])}
    out.update({k: v for k, v in message.items() if k not in fields and not _is_default(v)})
    return out


def canonical_spec(spec: dict[str, Any]) -> dict[str, Any]:
    return canonical(spec, _SPEC_FIELDS)


def canonical_binding(binding: dict[str, Any]) -> dict[str, Any]:
    return canonical(binding, _BINDING_FIELDS)


def resource_path(resource: dict[str, Any], pointers: list[str]) -> list[str]:
    """Resource path of a resource config via the spec's `resourcePathPointers`."""
    out = []
    for p in pointers:
        value = json_pointer.query(resource, json_pointer.split(p))
        out.append("" if value is None else value if isinstance(value, str) else orjson.dumps(value).decode())
    return out


def _dump(path: Path, doc: Any) -> None:
    """Write a catalog or schema file in its own format: JSON for `.json`, else YAML."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".json":
        path.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE))
        return
    text = yaml.safe_dump(doc, sort_keys=False, default_flow_style=False, allow_unicode=True, width=1000)
    path.write_text("---\n" + text)


def _load_yaml(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    doc = yaml.safe_load(path.read_text()) or {}
    return doc if isinstance(doc, dict) else {}


def _write_schema(path: Path, fragment: str, schema: Any) -> None:
    """Write `schema` as the file, or, for a `file#/pointer` reference, at that location inside the
    file (the rest of the file is kept)."""
    if fragment in ("", "/"):
        _dump(path, schema)
        return
    doc = _load_yaml(path)
    parent, _, last = fragment.rpartition("/")
    node: Any = doc
    for token in json_pointer.split(parent):
        node = node.setdefault(token, {}) if isinstance(node, dict) else None
    if not isinstance(node, dict):
        raise CatalogError(
            str(path), fragment, "cannot write the discovered schema there (not inside an object)"
        )
    node[json_pointer.unescape(last)] = schema
    _dump(path, doc)


def _planned_key(catalog: Catalog, name: str, binding: dict[str, Any]) -> list[str]:
    """The key the collection will have once written: the discovered one, unless it is only a
    fallback and the collection already has a key (then that key stays)."""
    existing = catalog.collections.get(name)
    key = [str(k) for k in binding.get("key") or []]
    if existing is not None and (binding.get("isFallbackKey") or not key):
        return list(existing.key)
    return key


def collection_name(capture: Capture, binding: dict[str, Any]) -> str:
    prefix = capture.name.rsplit("/", 1)[0]
    return f"{prefix}/{_UNSAFE.sub('_', str(binding.get('recommendedName', '')).strip()).strip('/')}"


def key_errors(catalog: Catalog, capture: Capture, bindings: list[dict[str, Any]]) -> list[str]:
    """Discovered bindings whose key their own documentSchema does not guarantee (keys.py), one
    line each naming the binding and every reason."""
    errors: list[str] = []
    for d in bindings:
        name = collection_name(capture, d)
        key = _planned_key(catalog, name, d)
        schema = d.get("documentSchema")
        problems = key_problems(schema if isinstance(schema, dict) else {}, key) if key else ["it has no key"]
        if problems:
            errors.append(
                f"binding {d.get('recommendedName', '')!r} (collection {name}, key "
                f"{orjson.dumps(key).decode()}): " + "; ".join(problems)
            )
    return errors


def stale_bindings(
    capture_bindings: list[Any], discovered_paths: set[tuple[str, ...]], pointers: list[str]
) -> list[int]:
    """Indexes of the capture's bindings whose resource the connector no longer discovers
    (bindings whose resource is a file reference are kept: their path is not known here)."""
    stale = []
    for i, b in enumerate(capture_bindings):
        if isinstance(b, dict) and isinstance(b.get("resource"), dict):
            if tuple(resource_path(b["resource"], pointers)) not in discovered_paths:
                stale.append(i)
    return stale


def write_discovered(
    catalog: Catalog, capture: Capture, spec: dict[str, Any], bindings: list[dict[str, Any]]
) -> tuple[list[str], list[str]]:
    """Update catalog files with discovered bindings; returns the files written and a line per
    binding removed because its resource is no longer discovered. A discovered key that its
    schema does not guarantee is an error, before anything is written."""
    problems = key_errors(catalog, capture, bindings)
    if problems:
        raise ConnectorError(
            f"capture {capture.name}: the connector discovered collection keys that their schemas do "
            "not guarantee, so nothing was written (fix the resources' keys or document models): "
            + " | ".join(problems)
        )
    capture_file = Path(capture.file)
    base = capture_file.parent
    prefix = capture.name.rsplit("/", 1)[0]
    flow_yaml = base / prefix / "flow.yaml"
    pointers = spec.get("resourcePathPointers") or []
    written: set[Path] = set()
    files: dict[Path, dict[str, Any]] = {}

    def doc_of(path: Path) -> dict[str, Any]:
        if path not in files:
            files[path] = _load_yaml(path)
        return files[path]

    cap_doc = doc_of(capture_file)
    cap_spec = cap_doc.setdefault("captures", {}).setdefault(capture.name, {})
    cap_bindings = cap_spec.get("bindings") or []
    discovered_paths = {
        tuple(d.get("resourcePath") or resource_path(d.get("resourceConfig") or {}, pointers))
        for d in bindings
    }
    removed: list[str] = []
    for i in reversed(stale_bindings(cap_bindings, discovered_paths, pointers)):
        gone = cap_bindings.pop(i)
        removed.append(
            f"removed binding {i} of {capture.name} (resource {orjson.dumps(gone['resource']).decode()}, "
            f"target {gone.get('target')}): the connector no longer discovers its resource"
        )
    removed.reverse()
    existing_paths: dict[tuple[str, ...], int] = {}
    for i, b in enumerate(cap_bindings):
        if isinstance(b, dict) and isinstance(b.get("resource"), dict):
            existing_paths[tuple(resource_path(b["resource"], pointers))] = i

    for d in bindings:
        name = collection_name(capture, d)
        resource = d.get("resourceConfig") or {}
        path = d.get("resourcePath") or resource_path(resource, pointers)
        # the collection and its schema
        existing = catalog.collections.get(name)
        coll_file = Path(existing.file) if existing else flow_yaml
        coll_doc = doc_of(coll_file)
        coll = coll_doc.setdefault("collections", {}).setdefault(name, {})
        schema_ref = coll.get("schema") if isinstance(coll.get("schema"), str) else None
        if schema_ref is None:
            target = base / prefix / f"{name.split('/', 1)[1]}.schema.yaml"
            schema_ref = os.path.relpath(target, coll_file.parent)
        ref_file, _, fragment = schema_ref.partition("#")
        schema_path = (coll_file.parent / ref_file).resolve()
        _write_schema(schema_path, fragment, d.get("documentSchema") or {})
        written.add(schema_path)
        coll.pop("writeSchema", None)
        coll.pop("readSchema", None)
        new_coll: dict[str, Any] = {"schema": schema_ref, "key": _planned_key(catalog, name, d)}
        for k, v in coll.items():
            if k not in new_coll:
                new_coll[k] = v
        coll_doc["collections"][name] = new_coll
        written.add(coll_file)
        # the capture binding
        if tuple(path) not in existing_paths:
            entry: dict[str, Any] = {"resource": resource, "target": name}
            if d.get("disable"):
                entry["disable"] = True
            cap_bindings.append(entry)
            existing_paths[tuple(path)] = len(cap_bindings) - 1

    cap_spec["bindings"] = cap_bindings
    rel = os.path.relpath(flow_yaml, base)
    if flow_yaml in files:
        imports = cap_doc.get("import") or []
        imported = {(base / i).resolve() for i in imports if isinstance(i, str) and "://" not in i}
        if flow_yaml.resolve() not in imported and flow_yaml.resolve() != capture_file.resolve():
            cap_doc["import"] = [*imports, rel]
            cap_doc = {"import": cap_doc.pop("import"), **cap_doc}
            files[capture_file] = cap_doc
    written.add(capture_file)
    for path, doc in files.items():
        _dump(path, doc)
    return sorted(str(p) for p in written), removed
