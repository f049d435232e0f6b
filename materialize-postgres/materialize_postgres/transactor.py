"""The transactions of materialize-postgres, exactly once (materialize-sql.md §3).

One connection serves the session: the kit's loop never overlaps a load phase with a commit
(each StartCommit has committed before the next Acknowledge), so loads always read committed
rows. Loads COPY their keys into temporary tables and are answered at Flush by one join query,
streamed back with COPY TO. Stores go into one database transaction, begun by the first write:
inserts are COPY'd into their table, updates and hard deletes into staging tables
(`staging.py`). StartCommit applies the staged updates and deletes, appends the fenced checkpoint
update as the last statement and commits: the rows and the runtime checkpoint they reach become
visible together or not at all, and a session that another one fenced off rolls all of it back
(§3.4, §3.6). Rows wait in memory for at most FLUSH_ROWS stores or FLUSH_BYTES, whatever the
transaction's size.

Stores are routed as Estuary's SQL materializations route them: a deletion with `hardDelete`
deletes the row (and is skipped when the key never existed), a key that exists is updated, a new
key inserted; without `hardDelete` a deletion is stored like any document (`_meta/op` tells it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from estuary_cdk.logger import FlowLogger
from estuary_cdk.materialize import Loaded, Store, Transactor
from estuary_cdk.materialize.response import ConnectorStateUpdate
from estuary_cdk.materialize.sql import Fence, FencedOff, Table

from .client import PostgresClient
from .connection import pg_error
from .staging import BindingSQL, load_query

__all__ = ["FLUSH_BYTES", "FLUSH_ROWS", "PostgresTransactor"]

FLUSH_ROWS = 16_384
"""Stores gathered before their rows are COPY'd (within the transaction)."""
FLUSH_BYTES = 8 << 20
"""Or this many bytes of row data, whichever comes first: memory stays bounded."""
_INSERT, _UPDATE, _DELETE = 0, 1, 2


class PostgresTransactor(Transactor):
    def __init__(
        self, log: FlowLogger, client: PostgresClient, tables: list[Table], fence: Fence, hard_delete: bool
    ) -> None:
        self.log = log
        self.client = client
        self.conn = client.conn
        self.fence = fence
        self.hard_delete = hard_delete
        self.bindings = [BindingSQL(t) for t in tables]
        self._loads: set[int] = set()
        # Rows of stores not yet COPY'd, by (binding, kind): the kit hands stores over in small
        # batches, and a COPY per batch would cost a round trip each.
        self._pending: dict[tuple[int, int], list[Sequence[Any]]] = {}
        self._pending_rows = self._pending_bytes = 0
        self._updates: set[int] = set()
        self._deletes: set[int] = set()

    async def setup(self) -> None:
        """Create the session's staging tables."""
        statement = ""
        try:
            for b in self.bindings:
                for statement in b.staging_ddl(self.hard_delete):
                    await self.conn.execute(statement)
            await self.conn.commit()
        except psycopg.Error as exc:
            raise pg_error(exc, f"creating the session's staging tables failed ({statement})") from None

    async def _copy(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        async with self.conn.cursor() as cur, cur.copy(sql) as copy:
            for row in rows:
                await copy.write_row(row)

    # -- loads ---------------------------------------------------------------------------------

    async def load(self, binding: int, keys: list[tuple[Any, ...]]) -> None:
        b = self.bindings[binding]
        convert = b.convert_key
        try:
            await self._copy(b.copy_load, [convert(k) for k in keys])
        except psycopg.Error as exc:
            raise pg_error(exc, f"staging the keys to load from table {b.table.quoted} failed") from None
        self._loads.add(binding)

    async def flush(self, loaded: Loaded) -> ConnectorStateUpdate | None:
        if not self._loads:
            return None
        staged = [self.bindings[i] for i in sorted(self._loads)]
        self._loads.clear()
        try:
            async with self.conn.cursor() as cur, cur.copy(load_query(staged)) as copy:
                copy.set_types(["int4", "text"])
                async for binding, doc in copy.rows():
                    await loaded(binding, doc)
            await self.conn.commit()  # and the key tables are empty again
        except psycopg.Error as exc:
            tables = ", ".join(b.table.quoted for b in staged)
            raise pg_error(exc, f"loading the stored documents of {tables} failed") from None
        return None

    # -- stores and commit ---------------------------------------------------------------------

    async def store(self, stores: list[Store]) -> None:
        pending, bindings, hard_delete = self._pending, self.bindings, self.hard_delete
        size = 0
        for s in stores:
            b = bindings[s.binding]
            if s.delete and hard_delete:
                if not s.exists:
                    continue  # never stored: nothing to delete
                kind, row = _DELETE, b.convert_key(s.key)
            elif s.exists and not b.table.delta_updates:
                if not b.apply_updates:
                    continue  # only key columns: the row already says everything
                kind, row = _UPDATE, b.row(s)
            else:
                kind, row = _INSERT, b.row(s)
            rows = pending.get((s.binding, kind))
            if rows is None:
                rows = pending[(s.binding, kind)] = []
            rows.append(row)
            size += b.row_size(row)
        self._pending_rows += len(stores)
        self._pending_bytes += size
        if self._pending_rows >= FLUSH_ROWS or self._pending_bytes >= FLUSH_BYTES:
            await self._write_pending()

    async def _write_pending(self) -> None:
        """COPY the rows gathered since the last write, one COPY per binding and kind."""
        for (binding, kind), rows in sorted(self._pending.items(), key=lambda item: item[0]):
            b = self.bindings[binding]
            sql, doing = (
                (b.copy_insert, "inserting rows into"),
                (b.copy_update, "staging updated rows of"),
                (b.copy_delete, "staging deleted keys of"),
            )[kind]
            try:
                await self._copy(sql, rows)
            except psycopg.Error as exc:
                raise pg_error(
                    exc, f"{doing} table {b.table.quoted} (collection {b.table.collection}) failed"
                ) from None
            if kind == _UPDATE:
                self._updates.add(binding)
            elif kind == _DELETE:
                self._deletes.add(binding)
        self._pending.clear()
        self._pending_rows = self._pending_bytes = 0

    async def start_commit(self, runtime_checkpoint: dict[str, Any]) -> ConnectorStateUpdate | None:
        await self._write_pending()
        doing = ""
        try:
            for binding in sorted(self._deletes):
                b = self.bindings[binding]
                doing = f"deleting the rows of deleted documents from {b.table.quoted}"
                await self.conn.execute(b.apply_deletes)
            for binding in sorted(self._updates):
                b = self.bindings[binding]
                doing = f"updating the rows of {b.table.quoted}"
                await self.conn.execute(b.apply_updates)
            self._deletes.clear()
            self._updates.clear()
            doing = f"writing the checkpoint to {self.fence.table}"
            sql, params = self.fence.commit_statement(runtime_checkpoint)
            cur = await self.conn.execute(sql, params)
            self.fence.check_committed(cur.rowcount)
            doing = "committing"
            await self.conn.commit()
        except FencedOff:
            await self.conn.rollback()
            raise
        except psycopg.Error as exc:
            raise pg_error(exc, f"committing the transaction failed ({doing})") from None
        return None

    async def close(self) -> None:
        await self.client.close()
