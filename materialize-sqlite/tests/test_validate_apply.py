"""Validate and Apply of materialize-sqlite through flowctl: constraints for new and existing
tables, schema changes applied without losing rows, and bad input refused with one clear error."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from conftest import Workspace, dump

MATERIALIZATION = ["--materialization", "tests/to-sqlite"]


def _validated(ws: Workspace) -> str:
    run = ws.flowctl("raw", "validate", "--source", str(ws.catalog), *MATERIALIZATION)
    bindings = json.loads(run.stdout)["validated"]["bindings"]
    lines = []
    for binding in bindings:
        lines.append(f"Binding {binding['resourcePath']} deltaUpdates={binding.get('deltaUpdates', False)}")
        for field, c in sorted(binding["constraints"].items()):
            folded = f" (folded {c['foldedField']!r})" if c.get("foldedField") else ""
            lines.append(f"  {field}: {c['type']}{folded} — {c.get('reason', '')}")
    return "\n".join(lines) + "\n"


def test_constraints_of_new_and_existing_tables(ws: Workspace, snapshot: Any) -> None:
    assert snapshot("new.txt") == _validated(ws)
    ws.preview()
    assert snapshot("existing.txt") == _validated(ws)


def _collection(doc: dict[str, Any], name: str) -> dict[str, Any]:
    return doc["collections"][name]["schema"]


def test_schema_changes_widen_add_and_relax_columns_keeping_rows(ws: Workspace, snapshot: Any) -> None:
    ws.preview()
    collections = ws.dir / "collections.flow.yaml"

    def evolve(doc: dict[str, Any]) -> None:
        simple = _collection(doc, "tests/simple")
        simple["properties"]["val"] = {"type": ["number", "null"]}  # INTEGER -> REAL
        simple["properties"]["extra"] = {"type": "string"}  # a new column
        simple["required"] = ["id", "_meta"]  # canary may now be absent: NOT NULL goes

    import yaml

    doc = yaml.safe_load(collections.read_text())
    evolve(doc)
    collections.write_text(yaml.safe_dump(doc, sort_keys=False))
    # Fixture transactions 1-4 were committed by the first run: this one is the fifth.
    (ws.dir / "later.json").write_text(
        '{"commit": true}\n' * 4
        + '["tests/simple", {"id": 8, "val": 1.5, "extra": "new", "_meta": {"op": "c"}}]\n'
    )
    run = ws.preview("later.json", "--output-apply")
    conn = sqlite3.connect(ws.db)
    simple = conn.execute("SELECT id, canary, val, extra FROM simple ORDER BY id").fetchall()
    assert simple == [(2, "updated", 2.0, None), (3, "updated twice", 31.0, None), (4, "strengthen", None, None),
                      (5, "created", None, None), (8, None, 1.5, "new")]  # fmt: skip
    assert (
        snapshot("evolved.txt")
        == run.stdout + dump(ws.db).split("Table: simple\n", 1)[1].split("Table:", 1)[0]
    )


def test_an_incompatible_column_is_refused_with_its_reason(ws: Workspace) -> None:
    ws.preview()
    before = dump(ws.db)
    collections = ws.dir / "collections.flow.yaml"
    collections.write_text(
        collections.read_text().replace("canary: {type: string}", "canary: {type: integer}")
    )
    validated = ws.flowctl("raw", "validate", "--source", str(ws.catalog), *MATERIALIZATION)
    canary = json.loads(validated.stdout)["validated"]["bindings"][0]["constraints"]["canary"]
    assert canary == {
        "type": "INCOMPATIBLE",
        "reason": "Field 'canary' is already being materialized as endpoint type 'TEXT' but endpoint type "
        "'INTEGER' is required by its schema '{ type: [integer] }'",
    }

    def require_canary(doc: dict[str, Any]) -> None:
        doc["materializations"]["tests/to-sqlite"]["bindings"][0]["fields"] = {"require": {"canary": {}}}

    ws.edit_catalog(require_canary)
    run = ws.preview(check=False)
    assert run.returncode == 1
    assert "canary" in run.stderr and "is TEXT but field 'canary' needs INTEGER" in run.stderr
    assert dump(ws.db) == before  # nothing half-written


def test_a_field_that_cannot_be_a_column_is_refused_when_required(ws: Workspace) -> None:
    def require_only_null(doc: dict[str, Any]) -> None:
        doc["materializations"]["tests/to-sqlite"]["bindings"][3]["fields"] = {"require": {"onlyNull": {}}}

    ws.edit_catalog(require_only_null)
    run = ws.preview(check=False)
    assert run.returncode == 1
    assert "onlyNull" in run.stderr and "only possible type is 'null'" in run.stderr


def test_a_nullable_key_without_default_is_refused(ws: Workspace) -> None:
    collections = ws.dir / "collections.flow.yaml"
    collections.write_text(
        collections.read_text().replace("required: [id, canary, _meta]", "required: [canary, _meta]")
    )
    run = ws.preview(check=False)
    assert run.returncode == 1
    assert "cannot materialize collection 'tests/simple' with nullable key field 'id'" in run.stderr


def test_a_table_this_materialization_did_not_create_is_not_taken_over(ws: Workspace) -> None:
    conn = sqlite3.connect(ws.db)
    conn.execute("CREATE TABLE simple (id INTEGER, mine TEXT)")
    conn.commit()
    run = ws.preview(check=False)
    assert run.returncode == 1
    assert "table simple already exists for new binding of collection 'tests/simple'" in run.stderr
    assert conn.execute("SELECT sql FROM sqlite_master WHERE name = 'simple'").fetchone()[0] == (
        "CREATE TABLE simple (id INTEGER, mine TEXT)"
    )


def test_bad_configs_name_the_setting(ws: Workspace) -> None:
    def config(value: dict[str, Any]) -> None:
        ws.edit_catalog(
            lambda doc: doc["materializations"]["tests/to-sqlite"]["endpoint"]["local"].update(config=value)
        )

    config({"hardDelete": True})
    run = ws.preview(check=False)
    assert run.returncode == 1 and "path" in run.stderr and "required" in run.stderr

    config({"path": 42})
    run = ws.preview(check=False)
    assert run.returncode == 1 and "/path" in run.stderr

    config({"path": "missing-dir/x.db"})
    run = ws.preview(check=False)
    assert run.returncode == 1
    assert (
        "cannot create database file 'missing-dir/x.db': directory 'missing-dir' does not exist" in run.stderr
    )
