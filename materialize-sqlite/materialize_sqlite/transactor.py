"""The transactions of materialize-sqlite, exactly once.

Loads stage their keys in a temporary table per binding and are answered with one join against
the target table, reading only committed rows. A transaction's stores run inside one SQLite write
transaction, begun at its first store (`BEGIN IMMEDIATE`, so a second writer waits rather than
interleaves), and StartCommit appends the fenced checkpoint update and commits: the rows and the
runtime checkpoint they reach become visible together or not at all, and a session that another
one has fenced off rolls everything back (materialize-sql.md §3.4, §3.6).

Each store is routed as Estuary's SQL materializations do: a deletion with `hardDelete` deletes
the row (and is skipped when the key never existed), an existing key is updated, a new key
inserted; without `hardDelete` a deletion is stored like any document (`_meta/op` tells it).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

import orjson
from estuary_cdk.materialize import Loaded, Store, Transactor
from estuary_cdk.materialize.response import ConnectorStateUpdate
from estuary_cdk.materialize.sql import Fence, FencedOff, Table, delete_row, insert_row, load_join, update_row

from .client import SQLiteClient, placeholder, sqlite_error
from .sqlgen import DIALECT

__all__ = ["SQLiteTransactor"]

RowFn = Callable[[Store], tuple[Any, ...]]


def _key_values_fn(table: Table) -> Callable[[tuple[Any, ...]], tuple[Any, ...]]:
    """Key and value parameters of a packed row (with each column's conversion)."""
    converters = [(i, fn) for i, fn in enumerate(table.row_converters()) if fn is not None]
    if not converters:
        return lambda row: row

    def convert(row: tuple[Any, ...]) -> tuple[Any, ...]:
        out = list(row)
        for i, fn in converters:
            out[i] = fn(out[i])
        return tuple(out)

    return convert


class _Binding:
    """Prepared statements and row builders of one table."""

    def __init__(self, table: Table) -> None:
        self.table = table
        self.insert = insert_row(table, placeholder)
        self.update = update_row(table, placeholder) if table.keys else ""
        self.delete = delete_row(table, placeholder) if table.keys else ""
        self.keys_table = f"temp.{DIALECT.quote(f'flow_load_{table.binding}')}"
        self.loads_ready = False
        n_keys = len(table.keys)
        convert = _key_values_fn(table)
        key_converters = [c.convert for c in table.keys]
        self.convert_keys: Callable[[tuple[Any, ...]], tuple[Any, ...]] = (
            (lambda key: tuple(f(v) if f else v for f, v in zip(key_converters, key, strict=True)))
            if any(key_converters)
            else (lambda key: key)
        )
        dumps = orjson.dumps
        if table.document is not None:

            def insert_params(s: Store) -> tuple[Any, ...]:
                return (*convert(s.key + s.values), dumps(s.doc).decode())

            def update_params(s: Store) -> tuple[Any, ...]:
                row = convert(s.key + s.values)
                return (*row[n_keys:], dumps(s.doc).decode(), *row[:n_keys])

        else:

            def insert_params(s: Store) -> tuple[Any, ...]:
                return convert(s.key + s.values)

            def update_params(s: Store) -> tuple[Any, ...]:
                row = convert(s.key + s.values)
                return (*row[n_keys:], *row[:n_keys])

        self.insert_params: RowFn = insert_params
        self.update_params: RowFn = update_params


class SQLiteTransactor(Transactor):
    def __init__(self, client: SQLiteClient, tables: list[Table], fence: Fence, hard_delete: bool) -> None:
        self.client = client
        self.conn = client.conn
        self.fence = fence
        self.hard_delete = hard_delete
        self.bindings = [_Binding(t) for t in tables]
        self._staged: set[int] = set()

    def _error(self, exc: sqlite3.Error, doing: str) -> Exception:
        return sqlite_error(exc, self.client.path, doing)

    def _begin(self) -> None:
        if not self.conn.in_transaction:
            self.conn.execute("BEGIN IMMEDIATE")

    # -- loads ---------------------------------------------------------------------------------

    async def load(self, binding: int, keys: list[tuple[Any, ...]]) -> None:
        b = self.bindings[binding]
        try:
            if not b.loads_ready:
                columns = ", ".join(c.quoted for c in b.table.keys)
                self.conn.execute(f"CREATE TEMP TABLE IF NOT EXISTS {b.keys_table} ({columns})")
                b.loads_ready = True
            marks = ", ".join("?" for _ in b.table.keys)
            self.conn.executemany(f"INSERT INTO {b.keys_table} VALUES ({marks})", map(b.convert_keys, keys))
        except sqlite3.Error as exc:
            raise self._error(exc, f"staging the keys to load of table {b.table.quoted} failed") from None
        self._staged.add(binding)

    async def flush(self, loaded: Loaded) -> ConnectorStateUpdate | None:
        for binding in sorted(self._staged):
            b = self.bindings[binding]
            try:
                rows = self.conn.execute(load_join(b.table, b.keys_table)).fetchall()
                self.conn.execute(f"DELETE FROM {b.keys_table}")
            except sqlite3.Error as exc:
                raise self._error(exc, f"loading documents of table {b.table.quoted} failed") from None
            for index, doc in rows:
                await loaded(index, doc)
        self._staged.clear()
        return None

    # -- stores and commit ---------------------------------------------------------------------

    async def store(self, stores: list[Store]) -> None:
        statements: list[tuple[str, list[tuple[Any, ...]]]] = []
        by_kind: dict[tuple[int, str], list[tuple[Any, ...]]] = {}
        bindings, hard_delete = self.bindings, self.hard_delete
        for s in stores:
            b = bindings[s.binding]
            if s.delete and hard_delete:
                if s.exists:
                    by_kind.setdefault((s.binding, "delete"), []).append(b.convert_keys(s.key))
            elif s.exists and not b.table.delta_updates:
                by_kind.setdefault((s.binding, "update"), []).append(b.update_params(s))
            else:
                by_kind.setdefault((s.binding, "insert"), []).append(b.insert_params(s))
        # Deletes, then updates, then inserts (each key comes once per transaction, so the order
        # only has to be the same every time).
        for kind in ("delete", "update", "insert"):
            for (binding, k), rows in by_kind.items():
                if k == kind:
                    statements.append((getattr(bindings[binding], kind), rows))
        try:
            self._begin()
            for sql, rows in statements:
                self.conn.executemany(sql, rows)
        except OverflowError as exc:
            raise self._error(
                sqlite3.DataError(
                    f"{exc}: an integer beyond 64 bits needs a column declared for it (give the field a "
                    '`maximum` in its schema, or the field config {"castToString": true})'
                ),
                "storing documents failed",
            ) from None
        except sqlite3.Error as exc:
            raise self._error(exc, "storing documents failed") from None

    async def start_commit(self, runtime_checkpoint: dict[str, Any]) -> ConnectorStateUpdate | None:
        sql, params = self.fence.commit_statement(runtime_checkpoint)
        try:
            self._begin()
            self.fence.check_committed(self.conn.execute(sql, params).rowcount)
            self.conn.execute("COMMIT")
        except FencedOff:
            self.conn.execute("ROLLBACK")
            raise
        except sqlite3.Error as exc:
            raise self._error(exc, "committing the transaction failed") from None
        return None

    async def close(self) -> None:
        await self.client.close()
