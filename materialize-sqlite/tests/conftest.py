"""Helpers of the connector's tests: a catalog in a temporary directory pointing at a fresh
database file, `flowctl` run against it, and dumps of the database for snapshots."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

CATALOG = Path(__file__).parent / "catalog"
FLOWCTL = Path(sys.executable).parent / "flowctl"


@dataclass
class Workspace:
    dir: Path

    @property
    def db(self) -> Path:
        return self.dir / "materialize.db"

    @property
    def catalog(self) -> Path:
        return self.dir / "materialize.flow.yaml"

    def edit_catalog(self, change: Any) -> None:
        doc = yaml.safe_load(self.catalog.read_text())
        change(doc)
        self.catalog.write_text(yaml.safe_dump(doc, sort_keys=False))

    def flowctl(
        self, *args: str, check: bool = True, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [str(FLOWCTL), *args],
            cwd=self.dir,
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, **(env or {})},
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"flowctl {' '.join(args)} exited {proc.returncode}:\n{proc.stderr}")
        return proc

    def preview(
        self, fixture: str = "fixture.materialize.json", *args: str, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        return self.flowctl(
            "preview",
            "--source",
            str(self.catalog),
            "--name",
            "tests/to-sqlite",
            "--fixture",
            fixture,
            *args,
            check=check,
        )


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    for f in CATALOG.iterdir():
        shutil.copy(f, tmp_path / f.name)
    return Workspace(tmp_path)


def dump(db: Path, *, published_at: bool = True) -> str:
    """Every table of the database but the checkpoints: its columns (name, type, NOT NULL, key
    position) and its rows sorted, one JSON line each, as Estuary's tests snapshot them."""
    conn = sqlite3.connect(db)
    out: list[str] = []
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
    for table in tables:
        if table == "flow_checkpoints_v1":
            continue
        quoted = '"' + table.replace('"', '""') + '"'
        out.append(f"Table: {table}")
        columns = conn.execute(f"PRAGMA table_info({quoted})").fetchall()
        for _, name, type_, notnull, _, pk in sorted(columns, key=lambda c: c[1]):
            out.append(json.dumps({"Name": name, "Type": type_, "NotNull": bool(notnull), "Key": pk}))
        out.append("Rows:")
        names = [c[1] for c in columns]
        rows = []
        for row in conn.execute(f"SELECT * FROM {quoted}"):
            record = {}
            for name, value in zip(names, row, strict=True):
                if name == "flow_published_at" and not published_at:
                    continue
                record[name] = value.hex() if isinstance(value, bytes) else value
            rows.append(json.dumps(record, sort_keys=True, ensure_ascii=False))
        out.extend(sorted(rows))
    conn.close()
    return "\n".join(out) + "\n"


def checkpoint(db: Path) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(
            "SELECT materialization, key_begin, key_end, fence, checkpoint FROM flow_checkpoints_v1"
        ).fetchall()
    finally:
        conn.close()


class Connector:
    """One materialize-sqlite process driven over the protocol by a test (a runtime stand-in)."""

    def __init__(self, cwd: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "materialize_sqlite"],
            cwd=cwd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )

    def send(self, *messages: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        for message in messages:
            self.proc.stdin.write(json.dumps(message).encode() + b"\n")
        self.proc.stdin.flush()

    def read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise AssertionError(f"connector ended: {self.finish()[1]}")
        message: dict[str, Any] = json.loads(line)
        return message

    def finish(self) -> tuple[int, str]:
        """Close the input; the exit code and the last stderr line."""
        assert self.proc.stdin is not None and self.proc.stderr is not None
        if not self.proc.stdin.closed:
            self.proc.stdin.close()
        code = self.proc.wait(timeout=60)
        lines = self.proc.stderr.read().decode().strip().splitlines()
        return code, lines[-1] if lines else ""
