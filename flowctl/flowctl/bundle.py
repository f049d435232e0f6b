"""`flowctl raw bundle`: the catalog with every reference inlined."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from .catalog import Catalog, Task, _Loader


def _inline_task(task: Task) -> dict[str, Any]:
    """The task as written, with its config and resource file references replaced by their
    content (configs stay encrypted when they were)."""
    raw = copy.deepcopy(task.raw)
    loader = _Loader(Path(task.file))
    base = Path(task.file)
    ep = raw.get("endpoint", {})
    for kind in ("local", "connector"):
        if kind in ep and isinstance(ep[kind], dict) and isinstance(ep[kind].get("config"), str):
            ep[kind]["config"], _, _ = loader.load_ref(ep[kind]["config"], base, task.file, "")
    for b in raw.get("bindings") or []:
        if isinstance(b, dict) and isinstance(b.get("resource"), str):
            b["resource"], _, _ = loader.load_ref(b["resource"], base, task.file, "")
    return raw


def bundle(catalog: Catalog) -> dict[str, Any]:
    """The inlined catalog: every reference replaced by its content."""
    out: dict[str, Any] = {}
    if catalog.collections:
        out["collections"] = {}
        for name, c in sorted(catalog.collections.items()):
            spec: dict[str, Any] = {}
            if c.read_schema is None:
                spec["schema"] = c.write_schema
            else:
                spec["writeSchema"] = c.write_schema
                spec["readSchema"] = c.read_schema
            spec["key"] = c.key
            if c.projections:
                spec["projections"] = c.projections
            out["collections"][name] = spec
    if catalog.captures:
        out["captures"] = {name: _inline_task(t) for name, t in sorted(catalog.captures.items())}
    if catalog.materializations:
        out["materializations"] = {
            name: _inline_task(t) for name, t in sorted(catalog.materializations.items())
        }
    out.update(catalog.bundled)
    return out
