"""Helpers: write a catalog around the fake connector and run the flowctl CLI as a process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

FIXTURES = Path(__file__).parent / "fixtures"
FAKE = FIXTURES / "fake_connector.py"

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"id": {"type": "integer"}, "n": {"type": "integer"}, "name": {"type": "string"}},
    "required": ["id"],
}


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    def lines(self) -> list[Any]:
        return [json.loads(line) for line in self.stdout.splitlines() if line.strip()]


def run_flowctl(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 60
) -> Result:
    proc = subprocess.run(
        [sys.executable, "-m", "flowctl", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        timeout=timeout,
        check=False,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def run_combine(
    source: Path, collection: str, docs: list[dict[str, Any]]
) -> subprocess.CompletedProcess[str]:
    """`flowctl raw combine` with `docs` on stdin, one JSON document per line."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "flowctl",
            "raw",
            "combine",
            "--source",
            str(source),
            "--collection",
            collection,
        ],
        input="\n".join(json.dumps(d) for d in docs),
        capture_output=True,
        text=True,
        check=False,
    )


@dataclass
class Catalog:
    path: Path
    record: Path

    def requests(self, kind: str) -> list[dict[str, Any]]:
        """Requests of `kind` the fake connector received (internal Spec probes included)."""
        if not self.record.exists():
            return []
        out = []
        for line in self.record.read_text().splitlines():
            entry = json.loads(line)
            if kind in entry["request"]:
                out.append(entry)
        return out


MakeCatalog = Callable[..., Catalog]


@pytest.fixture
def make_catalog(tmp_path: Path) -> MakeCatalog:
    def make(
        config: dict[str, Any] | None = None,
        bindings: list[dict[str, Any]] | None = None,
        schema: dict[str, Any] | None = None,
        extra_capture: dict[str, Any] | None = None,
        env: dict[str, str] | None = None,
    ) -> Catalog:
        record = tmp_path / "requests.jsonl"
        (tmp_path / "acmeCo").mkdir(exist_ok=True)
        (tmp_path / "acmeCo" / "users.schema.yaml").write_text(yaml.safe_dump(schema or SCHEMA))
        (tmp_path / "acmeCo" / "flow.yaml").write_text(
            yaml.safe_dump(
                {
                    "collections": {
                        "acmeCo/users": {"schema": "users.schema.yaml", "key": ["/id"]},
                        "acmeCo/events": {"schema": "users.schema.yaml", "key": ["/id"]},
                    }
                }
            )
        )
        capture: dict[str, Any] = {
            "endpoint": {
                "local": {
                    "command": [sys.executable, str(FAKE)],
                    "config": config if config is not None else {"mode": "ok"},
                    "env": {"FAKE_RECORD": str(record), **(env or {})},
                }
            },
            "bindings": bindings
            if bindings is not None
            else [
                {"resource": {"name": "users"}, "target": "acmeCo/users"},
                {"resource": {"name": "events"}, "target": "acmeCo/events"},
            ],
            "shards": {"logLevel": "debug"},
            **(extra_capture or {}),
        }
        path = tmp_path / "test.flow.yaml"
        path.write_text(
            yaml.safe_dump(
                {"import": ["acmeCo/flow.yaml"], "captures": {"acmeCo/source-fake": capture}}, sort_keys=False
            )
        )
        return Catalog(path, record)

    return make


FAKE_MATERIALIZE = FIXTURES / "fake_materialize.py"

USERS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "name": {"type": "string"},
        "n": {"type": "integer", "default": 0},
        "tags": {"type": "array", "items": {"type": "string"}},
        "nested": {"type": "object", "properties": {"deep": {"type": "boolean"}}},
        "_meta": {"type": "object", "properties": {"op": {"enum": ["c", "u", "d"]}}},
    },
    "required": ["id"],
    # the CDK's deletion pattern: `_meta.op: d` makes the reduced document a deletion
    "if": {
        "required": ["_meta"],
        "properties": {"_meta": {"required": ["op"], "properties": {"op": {"const": "d"}}}},
    },
    "then": {"reduce": {"strategy": "merge", "delete": True}},
    "else": {"reduce": {"strategy": "merge"}},
}


@dataclass
class MatCatalog:
    path: Path
    record: Path
    db: Path

    def requests(self, kind: str) -> list[dict[str, Any]]:
        if not self.record.exists():
            return []
        return [
            e["request"]
            for line in self.record.read_text().splitlines()
            if kind in (e := json.loads(line))["request"]
        ]

    def query(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        import sqlite3

        with sqlite3.connect(self.db) as db:
            return list(db.execute(sql, args))

    def rows(self, table: str = "users") -> dict[Any, Any]:
        """Stored rows of `table`: key tuple (JSON) → (values, doc)."""
        return {
            k: (json.loads(v), json.loads(d) if d else None)
            for k, v, d in self.query("SELECT key_json, values_json, doc FROM rows WHERE tbl = ?", table)
        }


MakeMatCatalog = Callable[..., MatCatalog]


@pytest.fixture
def make_mat_catalog(tmp_path: Path) -> MakeMatCatalog:
    """A catalog with collections acmeCo/users and acmeCo/events and a materialization
    acmeCo/to-fake of them into the fake connector's SQLite file."""

    def make(
        config: dict[str, Any] | None = None,
        bindings: list[dict[str, Any]] | None = None,
        schema: dict[str, Any] | None = None,
        extra: dict[str, Any] | None = None,
        collections: dict[str, Any] | None = None,
    ) -> MatCatalog:
        record = tmp_path / "mat-requests.jsonl"
        db = tmp_path / "dest.sqlite"
        (tmp_path / "acmeCo").mkdir(exist_ok=True)
        (tmp_path / "acmeCo" / "users.schema.yaml").write_text(yaml.safe_dump(schema or USERS_SCHEMA))
        (tmp_path / "acmeCo" / "flow.yaml").write_text(
            yaml.safe_dump(
                {
                    "collections": collections
                    or {
                        "acmeCo/users": {"schema": "users.schema.yaml", "key": ["/id"]},
                        "acmeCo/events": {"schema": "users.schema.yaml", "key": ["/id"]},
                    }
                }
            )
        )
        materialization: dict[str, Any] = {
            "endpoint": {
                "local": {
                    "command": [sys.executable, str(FAKE_MATERIALIZE)],
                    "config": {"path": str(db), **(config or {})},
                    "env": {"FAKE_RECORD": str(record)},
                }
            },
            "bindings": bindings
            if bindings is not None
            else [{"resource": {"table": "users"}, "source": "acmeCo/users"}],
            **(extra or {}),
        }
        path = tmp_path / "mat.flow.yaml"
        path.write_text(
            yaml.safe_dump(
                {"import": ["acmeCo/flow.yaml"], "materializations": {"acmeCo/to-fake": materialization}},
                sort_keys=False,
            )
        )
        return MatCatalog(path, record, db)

    return make


def run_in_process(*args: str) -> Result:
    """`flowctl *args` in this process (no interpreter start-up: the quick way for tests that
    only look at the exit code and the output). Connectors still run as subprocesses."""
    import contextlib
    import io

    from flowctl.cli import run

    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", write_through=True)
    err = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = run(list(args))
    out.flush()
    buffer = out.buffer
    assert isinstance(buffer, io.BytesIO)
    return Result(code, buffer.getvalue().decode(), err.getvalue())
