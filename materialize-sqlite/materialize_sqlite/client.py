"""The SQLite database file: opening it (with clear errors), its catalog, Apply's DDL and the
checkpoints fence.

Every connection runs in WAL mode with `synchronous=FULL`, so a committed transaction survives a
crash of the machine, not only of the process, and readers (a user's `sqlite3` shell, the next
session's loads) never block the writer. Transactions are explicit (`isolation_level=None`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from estuary_cdk import ConnectorError
from estuary_cdk.materialize.sql import (
    CHECKPOINTS_TABLE,
    ExistingColumn,
    ExistingTable,
    Fence,
    InfoSchema,
    SQLClient,
    install_fence,
)

from .sqlgen import DIALECT

__all__ = ["BUSY_TIMEOUT_SECONDS", "SQLiteClient", "connect", "placeholder"]

BUSY_TIMEOUT_SECONDS = 60.0
"""How long a statement waits for another writer's lock before failing (a zombie session)."""


def placeholder(_: int) -> str:
    return "?"


def connect(path: str) -> sqlite3.Connection:
    """Open (or create) the database file, failing with a message that names the path."""
    file = Path(path)
    if file.is_dir():
        raise ConnectorError(f"database path {path!r} is a directory, not a SQLite database file")
    if not file.parent.exists():
        raise ConnectorError(
            f"cannot create database file {path!r}: directory {str(file.parent)!r} does not exist"
        )
    try:
        conn = sqlite3.connect(
            path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None, check_same_thread=False
        )
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
    except sqlite3.DatabaseError as exc:
        raise ConnectorError(f"cannot open {path!r} as a SQLite database: {exc}") from None
    return conn


def sqlite_error(exc: sqlite3.Error, path: str, doing: str) -> ConnectorError:
    """A database error as one clear line."""
    text = str(exc)
    if "locked" in text or "busy" in text:
        return ConnectorError(
            f"{doing} in {path!r}: the database stayed locked by another writer for {BUSY_TIMEOUT_SECONDS:.0f}s "
            "(another session of this materialization, or another program holding a write transaction)"
        )
    return ConnectorError(f"{doing} in {path!r}: {text}")


class _Executor:
    """`SQLExecutor` over a sqlite3 connection (statements of the caller's open transaction)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self.conn.execute(sql, params).rowcount

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return list(self.conn.execute(sql, params).fetchall())


class SQLiteClient(SQLClient):
    def __init__(self, path: str) -> None:
        self.path = path
        self.conn = connect(path)

    async def info_schema(self, paths: Sequence[Sequence[str]]) -> InfoSchema:
        info = InfoSchema(DIALECT)
        names = {row[0] for row in self.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        by_lower = {n.lower(): n for n in names}
        for path in paths:
            stored = by_lower.get(path[-1].lower()) if len(path) == 1 else None
            if stored is None:
                continue
            columns = [
                ExistingColumn(
                    name=row[1], data_type=row[2] or "", nullable=not row[3], has_default=row[4] is not None
                )
                for row in self.conn.execute(f"PRAGMA table_info({DIALECT.quote(stored)})")
            ]
            info.add(ExistingTable((stored,), columns))
        return info

    async def run_ddl(self, statements: Sequence[str]) -> None:
        try:
            self.conn.execute("BEGIN IMMEDIATE")
            for statement in statements:
                self.conn.execute(statement)
            self.conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise sqlite_error(exc, self.path, "applying the table changes failed") from None

    async def has_checkpoint(self, materialization: str) -> bool:
        try:
            rows = self.conn.execute(
                f"SELECT 1 FROM {DIALECT.quote(CHECKPOINTS_TABLE)} WHERE materialization = ? LIMIT 1",
                (materialization,),
            ).fetchall()
        except sqlite3.OperationalError:
            return False  # no checkpoints table yet
        return bool(rows)

    async def install_fence(self, materialization: str, key_begin: int, key_end: int) -> Fence:
        try:
            self.conn.execute("BEGIN IMMEDIATE")
            fence = await install_fence(
                _Executor(self.conn),
                DIALECT.quote(CHECKPOINTS_TABLE),
                placeholder,
                materialization,
                key_begin,
                key_end,
            )
            self.conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            if "no such table" in str(exc):
                raise ConnectorError(
                    f"{path_text(self.path)} has no {CHECKPOINTS_TABLE} table: run Apply before Open"
                ) from None
            raise sqlite_error(exc, self.path, "installing the checkpoint fence failed") from None
        return fence

    async def close(self) -> None:
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")
        self.conn.close()


def path_text(path: str) -> str:
    return repr(path)
