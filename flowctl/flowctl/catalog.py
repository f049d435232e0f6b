"""Loading and resolving a Flow catalog (flow.yaml / test.flow.yaml, flow-protocol §4.10).

Imports are followed recursively; any string where an object or schema is expected is a file
reference relative to the file it appears in (optionally with a `#/json/pointer` fragment);
schema `$ref`s to other files are bundled in as embedded resources so that the result is a
self-contained schema, like the one the runtime hands to connectors."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from . import json_pointer
from .durations import parse_duration
from .endpoints import Endpoint, parse_endpoint
from .errors import CatalogError, UsageError
from .materializations import Materialization, parse_bindings
from .yaml_load import SourceSyntaxError, load_json, load_yaml

DEFAULT_INTERVAL_SECONDS = 300


ptr = json_pointer.join  # error locations inside catalog files


@dataclass
class Collection:
    name: str
    key: list[str]
    write_schema: dict[str, Any]
    read_schema: dict[str, Any] | None
    projections: dict[str, Any]
    file: str
    location: str
    # Projections with inference, built once (see projections.py).
    built_projections: list[dict[str, Any]] | None = field(default=None, compare=False, repr=False)


@dataclass
class Binding:
    resource: dict[str, Any]
    target: str
    disable: bool
    backfill: int
    location: str


@dataclass
class Capture:
    name: str
    endpoint: Endpoint
    bindings: list[Binding]
    interval_seconds: int
    log_level: str
    file: str
    location: str
    raw: dict[str, Any]
    kind: str = "capture"


Task = Capture | Materialization


@dataclass
class Catalog:
    source: str
    collections: dict[str, Collection] = field(default_factory=dict)
    captures: dict[str, Capture] = field(default_factory=dict)
    materializations: dict[str, Materialization] = field(default_factory=dict)
    bundled: dict[str, Any] = field(default_factory=dict)

    def capture(self, name: str | None) -> Capture:
        """The capture named `name`, or the only capture when `name` is None."""
        if name is not None:
            if name in self.materializations:
                raise UsageError(
                    f"{name!r} is a materialization: preview it with --fixture <file> (documents to "
                    "materialize), or run it with its capture through `flowctl run`"
                )
            if name not in self.captures:
                known = ", ".join(sorted(self.captures)) or "none"
                raise UsageError(f"capture {name!r} is not in the catalog {self.source} (captures: {known})")
            return self.captures[name]
        if len(self.captures) == 1:
            return next(iter(self.captures.values()))
        if not self.captures:
            raise UsageError(f"the catalog {self.source} defines no captures")
        raise UsageError(
            f"the catalog {self.source} defines several captures ({', '.join(sorted(self.captures))}): choose one by name"
        )

    def materialization(self, name: str | None) -> Materialization:
        """The materialization named `name`, or the only one when `name` is None."""
        if name is not None:
            if name not in self.materializations:
                known = ", ".join(sorted(self.materializations)) or "none"
                kind = " (it is a capture)" if name in self.captures else ""
                raise UsageError(
                    f"materialization {name!r} is not in the catalog {self.source}{kind} (materializations: {known})"
                )
            return self.materializations[name]
        if len(self.materializations) == 1:
            return next(iter(self.materializations.values()))
        if not self.materializations:
            raise UsageError(f"the catalog {self.source} defines no materializations")
        raise UsageError(
            f"the catalog {self.source} defines several materializations "
            f"({', '.join(sorted(self.materializations))}): choose one by name"
        )

    def task(self, capture: str | None = None, materialization: str | None = None) -> Task:
        """The task chosen by name (--capture / --materialization), else the only task."""
        if capture is not None and materialization is not None:
            raise UsageError("give either --capture or --materialization, not both")
        if capture is not None:
            return self.capture(capture)
        if materialization is not None:
            return self.materialization(materialization)
        tasks: list[Task] = [*self.captures.values(), *self.materializations.values()]
        if len(tasks) == 1:
            return tasks[0]
        if not tasks:
            raise UsageError(f"the catalog {self.source} defines no captures or materializations")
        names = ", ".join(sorted(t.name for t in tasks))
        raise UsageError(
            f"the catalog {self.source} defines several tasks ({names}): choose one with --capture or --materialization"
        )


def _read_file(path: Path, referrer: str, location: str) -> tuple[Any, bytes]:
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise CatalogError(
            referrer, location, f"cannot read referenced file {str(path)!r}: {err.strerror}"
        ) from None
    try:
        if path.suffix == ".json":
            return load_json(raw), raw
        return load_yaml(raw), raw
    except SourceSyntaxError as err:
        # Never the text of the line: in a config it may hold a secret.
        raise CatalogError(
            str(path), "", f"not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {err}"
        ) from None


def _split_ref(ref: str, base: Path) -> tuple[Path, str]:
    """(file, fragment) of a relative or file:// reference."""
    target, _, fragment = ref.partition("#")
    if target.startswith("file://"):
        return Path(unquote(urlparse(target).path)), fragment
    return (base.parent / unquote(target)).resolve(), fragment


class _Loader:
    def __init__(self, source: Path) -> None:
        self.source = source
        self.catalog = Catalog(source=str(source))
        self._visited: set[Path] = set()
        self._file_cache: dict[Path, Any] = {}

    # --- generic resources -------------------------------------------------------------------
    def load_ref(self, ref: str, base: Path, referrer: str, location: str) -> tuple[Any, Path, bytes]:
        """Load the resource `ref` (relative to `base`), following its fragment."""
        if ref.startswith(("http://", "https://")):
            raise CatalogError(
                referrer, location, f"remote reference {ref!r} is not supported (only local files)"
            )
        path, fragment = _split_ref(ref, base)
        doc, raw = _read_file(path, referrer, location)
        if fragment:
            try:
                doc = json_pointer.resolve(doc, fragment)
            except (KeyError, IndexError, ValueError):
                raise CatalogError(
                    str(path), fragment, f"fragment {fragment!r} of reference {ref!r} does not exist"
                ) from None
        return doc, path, raw

    # --- schemas -----------------------------------------------------------------------------
    def schema(self, value: Any, base: Path, file: str, location: str) -> dict[str, Any]:
        """Resolve an inline or referenced schema, bundling external `$ref`s."""
        if isinstance(value, str):
            value, base, _ = self.load_ref(value, base, file, location)
            file = str(base)
            location = ""
        if isinstance(value, bool):
            return {} if value else {"not": {}}
        if not isinstance(value, dict):
            raise CatalogError(file, location, "a schema must be an object or a file reference")
        defs: dict[str, Any] = {}
        bundled = self._bundle(copy.deepcopy(value), base, defs, file)
        if defs:
            bundled.setdefault("$defs", {}).update(defs)
        return bundled

    def _bundle(self, node: Any, base: Path, defs: dict[str, Any], file: str) -> Any:
        if isinstance(node, list):
            return [self._bundle(v, base, defs, file) for v in node]
        if not isinstance(node, dict):
            return node
        out: dict[str, Any] = {}
        for key, value in node.items():
            if (
                key == "$ref"
                and isinstance(value, str)
                and not value.startswith(("#", "flow://", "http://", "https://"))
            ):
                path, fragment = _split_ref(value, base)
                url = path.as_uri()
                if url not in defs:
                    defs[url] = {}  # placeholder against cycles
                    doc, _ = _read_file(path, file, "")
                    embedded = self._bundle(copy.deepcopy(doc), path, defs, str(path))
                    if isinstance(embedded, dict):
                        embedded = {"$id": url, **embedded}
                    defs[url] = embedded
                out[key] = url + ("#" + fragment if fragment else "")
            else:
                out[key] = self._bundle(value, base, defs, file)
        return out

    # --- catalog files -----------------------------------------------------------------------
    def load_file(self, path: Path, referrer: str | None = None, location: str = "") -> None:
        path = path.resolve()
        if path in self._visited:
            return
        self._visited.add(path)
        if not path.exists():
            if referrer is None:
                raise CatalogError(str(path), "", "catalog file does not exist")
            raise CatalogError(referrer, location, f"imported file {str(path)!r} does not exist")
        doc, _ = _read_file(path, referrer or str(path), location)
        file = str(path)
        if doc is None:
            doc = {}
        if not isinstance(doc, dict):
            raise CatalogError(file, "", "a catalog must be a mapping (import, collections, captures, ...)")
        known = {
            "import",
            "collections",
            "captures",
            "materializations",
            "tests",
            "storageMappings",
            "$schema",
        }
        for key in doc:
            if key not in known:
                raise CatalogError(
                    file, ptr(key), f"unknown top-level key {key!r} (expected one of {sorted(known)})"
                )
        imports = doc.get("import") or []
        if not isinstance(imports, list):
            raise CatalogError(file, "/import", "`import` must be a list of relative file paths or URLs")
        for i, item in enumerate(imports):
            if not isinstance(item, str):
                raise CatalogError(
                    file, ptr("import", i), "an import must be a string (relative path or URL)"
                )
            if item.startswith(("http://", "https://")):
                raise CatalogError(
                    file, ptr("import", i), f"remote import {item!r} is not supported (only local files)"
                )
            target, _ = _split_ref(item, path)
            self.load_file(target, file, ptr("import", i))
        collections = doc.get("collections") or {}
        if not isinstance(collections, dict):
            raise CatalogError(file, "/collections", "`collections` must be a mapping of name to collection")
        for name, spec in collections.items():
            self.collection(str(name), spec, path)
        captures = doc.get("captures") or {}
        if not isinstance(captures, dict):
            raise CatalogError(file, "/captures", "`captures` must be a mapping of name to capture")
        for name, spec in captures.items():
            self.capture(str(name), spec, path)
        materializations = doc.get("materializations") or {}
        if not isinstance(materializations, dict):
            raise CatalogError(
                file, "/materializations", "`materializations` must be a mapping of name to materialization"
            )
        for name, spec in materializations.items():
            self.materialization(str(name), spec, path)
        if doc.get("tests"):
            self.catalog.bundled.setdefault("tests", {}).update(doc["tests"])

    @staticmethod
    def _entry(
        kind: str, defined: dict[str, Any], name: str, spec: Any, path: Path, needs: str
    ) -> tuple[str, str]:
        """File and location of a `kind` entry, once it passes the checks every entry gets: a
        valid name, defined only once, a mapping (with `needs`)."""
        file = str(path)
        loc = ptr(kind + "s", name)
        _check_name(name, file, loc)
        if name in defined:
            raise CatalogError(file, loc, f"{kind} {name!r} is also defined in {defined[name].file}")
        if not isinstance(spec, dict):
            raise CatalogError(file, loc, f"a {kind} must be a mapping with {needs}")
        return file, loc

    def collection(self, name: str, spec: Any, path: Path) -> None:
        file, loc = self._entry(
            "collection", self.catalog.collections, name, spec, path, "`schema` (or `writeSchema`) and `key`"
        )
        key = spec.get("key")
        if (
            not isinstance(key, list)
            or not key
            or not all(isinstance(k, str) and k.startswith("/") for k in key)
        ):
            raise CatalogError(
                file, loc + "/key", "`key` must be a non-empty list of JSON pointers such as [/id]"
            )
        if "schema" in spec:
            if "writeSchema" in spec or "readSchema" in spec:
                raise CatalogError(file, loc, "use either `schema` or `writeSchema` + `readSchema`, not both")
            write = self.schema(spec["schema"], path, file, loc + "/schema")
            read = None
        elif "writeSchema" in spec:
            write = self.schema(spec["writeSchema"], path, file, loc + "/writeSchema")
            if "readSchema" not in spec:
                raise CatalogError(file, loc, "`writeSchema` requires a `readSchema`")
            read = self.schema(spec["readSchema"], path, file, loc + "/readSchema")
        else:
            raise CatalogError(file, loc, "a collection needs `schema` or `writeSchema` + `readSchema`")
        if write.get("type") not in ("object", ["object"], None) and "object" not in (
            write.get("type") or []
        ):
            raise CatalogError(file, loc, "the collection schema's root must be `type: object`")
        projections = spec.get("projections") or {}
        if not isinstance(projections, dict):
            raise CatalogError(
                file, loc + "/projections", "`projections` must be a mapping of field to pointer"
            )
        self.catalog.collections[name] = Collection(name, list(key), write, read, projections, file, loc)

    def capture(self, name: str, spec: Any, path: Path) -> None:
        file, loc = self._entry(
            "capture", self.catalog.captures, name, spec, path, "`endpoint` and `bindings`"
        )
        endpoint = parse_endpoint(spec.get("endpoint"), path, loc + "/endpoint", self.load_ref)
        raw_bindings = spec.get("bindings", [])
        if raw_bindings is None:
            raw_bindings = []
        if not isinstance(raw_bindings, list):
            raise CatalogError(file, loc + "/bindings", "`bindings` must be a list")
        bindings: list[Binding] = []
        for i, b in enumerate(raw_bindings):
            bloc = f"{loc}/bindings/{i}"
            if not isinstance(b, dict):
                raise CatalogError(file, bloc, "a binding must be a mapping with `resource` and `target`")
            resource = b.get("resource")
            if isinstance(resource, str):
                resource, _, _ = self.load_ref(resource, path, file, bloc + "/resource")
            if not isinstance(resource, dict):
                raise CatalogError(
                    file, bloc + "/resource", "`resource` must be an object (the resource config)"
                )
            target = b.get("target")
            if not isinstance(target, str) or not target:
                raise CatalogError(file, bloc + "/target", "`target` must be a collection name")
            disable = b.get("disable", False)
            if not isinstance(disable, bool):
                raise CatalogError(file, bloc + "/disable", "`disable` must be true or false")
            backfill = b.get("backfill", 0)
            if not isinstance(backfill, int) or isinstance(backfill, bool) or backfill < 0:
                raise CatalogError(file, bloc + "/backfill", "`backfill` must be a non-negative integer")
            bindings.append(Binding(resource, target, disable, backfill, bloc))
        interval = spec.get("interval", "5m")
        try:
            interval_s = int(parse_duration(str(interval)))
        except UsageError as err:
            raise CatalogError(file, loc + "/interval", str(err)) from None
        self.catalog.captures[name] = Capture(
            name, endpoint, bindings, interval_s, _log_level(spec, file, loc), file, loc, spec
        )

    def materialization(self, name: str, spec: Any, path: Path) -> None:
        file, loc = self._entry(
            "materialization", self.catalog.materializations, name, spec, path, "`endpoint` and `bindings`"
        )
        endpoint = parse_endpoint(spec.get("endpoint"), path, loc + "/endpoint", self.load_ref)

        def load_resource(ref: str, location: str) -> Any:
            return self.load_ref(ref, path, file, location)[0]

        bindings = parse_bindings(spec.get("bindings", []), file, loc + "/bindings", load_resource)
        self.catalog.materializations[name] = Materialization(
            name, endpoint, bindings, _log_level(spec, file, loc), file, loc, spec
        )


def _log_level(spec: dict[str, Any], file: str, loc: str) -> str:
    """`shards.logLevel` (default info): the connector's LOG_LEVEL."""
    shards = spec.get("shards") or {}
    if not isinstance(shards, dict):
        raise CatalogError(file, loc + "/shards", "`shards` must be a mapping")
    log_level = str(shards.get("logLevel", "info")).lower()
    if log_level not in ("error", "warn", "info", "debug", "trace"):
        raise CatalogError(
            file,
            loc + "/shards/logLevel",
            f"unknown log level {log_level!r} (error, warn, info, debug, trace)",
        )
    return log_level


def _check_name(name: str, file: str, loc: str) -> None:
    parts = name.split("/")
    if len(parts) < 2 or not all(parts):
        raise CatalogError(file, loc, f"name {name!r} must be a path like `acmeCo/thing` (prefix, then name)")


def load_catalog(source: str | Path) -> Catalog:
    """Load `source` and everything it imports. Bindings must target known collections."""
    path = Path(source).resolve()
    loader = _Loader(path)
    loader.load_file(path)
    catalog = loader.catalog
    for capture in catalog.captures.values():
        for binding in capture.bindings:
            if binding.target not in catalog.collections:
                raise CatalogError(
                    capture.file,
                    binding.location + "/target",
                    f"collection {binding.target!r} is not defined in the catalog",
                )
    for materialization in catalog.materializations.values():
        for mb in materialization.bindings:
            if mb.source not in catalog.collections:
                raise CatalogError(
                    materialization.file,
                    mb.location + "/source",
                    f"collection {mb.source!r} is not defined in the catalog",
                )
    return catalog
