"""Validate against what the database holds: constraints of new bindings, of tables that exist
and fit, and of tables whose columns no longer fit the collection (INCOMPATIBLE with the reason),
and what happens next: Apply refuses a selected field its column cannot hold, and flowctl, given
the live field selection, refuses the build."""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

import pytest
from conftest import BIN, TASK, Workspace
from flowctl.build_materialization import build_materialization
from flowctl.catalog import load_catalog
from flowctl.connector import launch_for
from flowctl.errors import BuildError


def _validated(ws: Workspace) -> str:
    """`flowctl raw validate`, one line per binding and per constraint (sorted by field)."""
    out = ws.flowctl("raw", "validate", "--source", str(ws.catalog), "--materialization", TASK).stdout
    lines = []
    for binding in json.loads(out)["validated"]["bindings"]:
        lines.append(f"Binding {json.dumps(binding['resourcePath'], ensure_ascii=False)}"
                     f" deltaUpdates={binding.get('deltaUpdates', False)}")  # fmt: skip
        for field, c in sorted(binding["constraints"].items()):
            folded = f" (folded: {c['foldedField']})" if c.get("foldedField") else ""
            lines.append(f"  {field}{folded}: {c['type']}: {c.get('reason', '')}")
    return "\n".join(lines) + "\n"


def _change_types(collections: dict[str, Any]) -> None:
    props = collections["tests/simple"]["schema"]["properties"]
    props["id"] = {"type": "string"}  # a key of another type: needs a backfill
    props["canary"] = {"type": "integer"}  # TEXT cannot become BIGINT
    props["val"] = {"type": ["number", "null"]}  # BIGINT widens to DOUBLE PRECISION


def test_validate_new_existing_and_incompatible(ws: Workspace, snapshot: Any) -> None:
    assert snapshot("new.txt") == _validated(ws)

    ws.preview()
    assert snapshot("existing.txt") == _validated(ws)

    ws.edit_collections(_change_types)
    incompatible = _validated(ws)
    assert snapshot("incompatible.txt") == incompatible
    simple = incompatible.split('Binding ["public", "simple"]')[1].split("Binding")[0]
    assert "  id: INCOMPATIBLE: Field 'id' is already being materialized as endpoint type 'BIGINT'" in simple
    assert (
        "  canary: INCOMPATIBLE: Field 'canary' is already being materialized as endpoint type 'TEXT'"
        in simple
    )
    assert "  val: FIELD_OPTIONAL: This location is part of the current materialization" in simple

    # Without a live field selection (preview), the incompatible fields are selected: Apply
    # refuses them, before changing anything.
    before = ws.dump()
    failed = ws.preview(check=False)
    assert failed.returncode == 1
    last = failed.stderr.strip().splitlines()[-1]
    assert "table public.simple cannot hold the selected fields" in last
    assert "column id is bigint but field 'id' needs TEXT" in last
    assert "column canary is text but field 'canary' needs BIGINT" in last
    assert "Backfill the binding" in last
    assert ws.dump() == before


def test_flowctl_refuses_an_incompatible_key_of_the_live_selection(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The build the runtime makes with the last applied spec: the key field is INCOMPATIBLE and
    required, so the build fails and asks for a backfill."""
    monkeypatch.setenv("PATH", f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    ws.preview()

    async def build(last: dict[str, Any] | None) -> dict[str, Any]:
        catalog = load_catalog(str(ws.catalog))
        task = catalog.materialization(TASK)
        built = await build_materialization(catalog, task, await launch_for(task), lambda _: None, last=last)
        return built.spec

    live = asyncio.run(build(None))
    ws.edit_collections(_change_types)
    with pytest.raises(BuildError) as refused:
        asyncio.run(build(live))
    text = str(refused.value)
    assert "cannot select its fields" in text
    assert (
        "field 'id'" in text and "Field 'id' is already being materialized as endpoint type 'BIGINT'" in text
    )
    assert "a backfill is needed" in text
