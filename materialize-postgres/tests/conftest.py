"""Helpers of the connector's tests: one private PostgreSQL server for the session (the kit's
`postgres_server`), a fresh database and a catalog pointing at it per test, `flowctl` run against
it, and dumps of the database for snapshots."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from estuary_cdk.testing.postgres import PostgresServer, postgres_server

__all__ = ["Workspace", "postgres_server"]

CATALOG = Path(__file__).parent / "catalog"
BIN = Path(sys.executable).parent
TASK = "tests/to-postgres"
_databases = itertools.count(1)


@dataclass
class Workspace:
    dir: Path
    server: PostgresServer
    database: str
    catalog_name: str = "materialize.flow.yaml"
    task: str = TASK

    @property
    def catalog(self) -> Path:
        return self.dir / self.catalog_name

    def using(self, catalog_name: str, task: str) -> Workspace:
        """The same directory and database, driving another catalog and materialization."""
        return Workspace(self.dir, self.server, self.database, catalog_name, task)

    def conninfo(self) -> str:
        return self.server.conninfo(self.database)

    def edit_catalog(self, change: Callable[[dict[str, Any]], None]) -> None:
        doc = yaml.safe_load(self.catalog.read_text())
        change(doc)
        self.catalog.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True))

    def edit_config(self, change: Callable[[dict[str, Any]], None]) -> None:
        self.edit_catalog(
            lambda doc: change(doc["materializations"][self.task]["endpoint"]["local"]["config"])
        )

    def edit_collections(
        self, change: Callable[[dict[str, Any]], None], file: str = "collections.flow.yaml"
    ) -> None:
        path = self.dir / file
        doc = yaml.safe_load(path.read_text())
        change(doc["collections"])
        path.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True))

    def flowctl(
        self, *args: str, check: bool = True, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [str(BIN / "flowctl"), *args],
            cwd=self.dir,
            capture_output=True,
            text=True,
            timeout=180,
            env={**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", **(env or {})},
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"flowctl {' '.join(args)} exited {proc.returncode}:\n{proc.stderr}")
        return proc

    def preview(
        self,
        fixture: str = "fixture.materialize.json",
        *args: str,
        check: bool = True,
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        return self.flowctl(
            "preview", "--source", str(self.catalog), "--name", self.task, "--fixture", fixture, *args,
            check=check, env=env,
        )  # fmt: skip

    def sql(self, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.conninfo(), autocommit=True) as conn:
            cur = conn.execute(statement.encode() if not params else statement, params or None)
            return cur.fetchall() if cur.description else []

    def dump(self) -> str:
        return dump(self.conninfo())

    def checkpoints(self) -> list[tuple[Any, ...]]:
        return self.sql(
            "SELECT materialization, key_begin, key_end, fence, checkpoint FROM public.flow_checkpoints_v1 "
            "ORDER BY materialization, key_begin"
        )


def new_workspace(directory: Path, server: PostgresServer) -> Workspace:
    """A fresh database and the test catalog pointing at it, in `directory`."""
    database = f"test_{os.getpid()}_{next(_databases)}"
    server.create_database(database)
    for f in CATALOG.iterdir():
        shutil.copy(f, directory / f.name)
    ws = Workspace(directory, server, database)

    def point(doc: dict[str, Any]) -> None:
        for task in doc.get("materializations", {}).values():
            task["endpoint"]["local"]["config"].update(
                address=server.address, password=server.password, database=database
            )

    for catalog in directory.glob("*.flow.yaml"):
        Workspace(directory, server, database, catalog.name).edit_catalog(point)
    return ws


@pytest.fixture
def ws(tmp_path: Path, postgres_server: PostgresServer) -> Workspace:
    return new_workspace(tmp_path, postgres_server)


_COLUMNS = """
SELECT c.column_name, c.is_nullable = 'YES', c.data_type, k.ordinal_position
FROM information_schema.columns c
LEFT JOIN information_schema.table_constraints t
  ON t.table_schema = c.table_schema AND t.table_name = c.table_name AND t.constraint_type = 'PRIMARY KEY'
LEFT JOIN information_schema.key_column_usage k
  ON k.constraint_name = t.constraint_name AND k.table_schema = c.table_schema
  AND k.table_name = c.table_name AND k.column_name = c.column_name
WHERE c.table_schema = %s AND c.table_name = %s
ORDER BY c.column_name
"""


def dump(conninfo: str) -> str:
    """Every table but the checkpoints: its columns as information_schema describes them (one
    JSON line each, sorted by name) and its rows (`row_to_json`, in UTC, sorted), as Estuary's
    tests snapshot them."""
    out: list[str] = []
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("SET TimeZone = 'UTC'")
        conn.execute("SET extra_float_digits = 0")
        tables = conn.execute(
            "SELECT table_schema, table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE' "
            "AND table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2"
        ).fetchall()
        for schema, table in tables:
            if table == "flow_checkpoints_v1":
                continue
            out.append(f"Table: {json.dumps([schema, table], ensure_ascii=False)}")
            for name, nullable, data_type, key in conn.execute(_COLUMNS, (schema, table)):
                line = {"Name": name, "Nullable": nullable, "Type": data_type, "Key": key}
                out.append(json.dumps(line, ensure_ascii=False))
            out.append("Rows:")
            quoted = ".".join('"' + p.replace('"', '""') + '"' for p in (schema, table))
            rows = [r[0] for r in conn.execute(f"SELECT row_to_json(t)::text FROM {quoted} AS t".encode())]
            out.extend(sorted(rows))
    return "\n".join(out) + "\n"
