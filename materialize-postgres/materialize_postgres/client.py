"""The database as Validate, Apply and Open see it: its catalog (which tables and columns exist),
Apply's DDL in one transaction, and the checkpoints fence.

Apply creates missing schemas (the endpoint's, where the checkpoints table lives, and those of
the resource paths) in the same transaction as the tables, so a failing statement leaves nothing
behind: PostgreSQL's DDL is transactional.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from estuary_cdk import ConnectorError
from estuary_cdk.logger import FlowLogger
from estuary_cdk.materialize.sql import (
    CHECKPOINTS_TABLE,
    ExistingColumn,
    ExistingTable,
    Fence,
    InfoSchema,
    SQLClient,
    install_fence,
)

from .connection import connect, pg_error
from .models import EndpointConfig
from .sqlgen import DIALECT

__all__ = ["PostgresClient", "placeholder"]

Connection = psycopg.AsyncConnection[tuple[Any, ...]]


def placeholder(_: int) -> str:
    return "%s"


class _Executor:
    """`SQLExecutor` over a connection (statements of the caller's open transaction)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        cur = await self.conn.execute(sql, params)
        return cur.rowcount

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        cur = await self.conn.execute(sql, params)
        return await cur.fetchall()


class PostgresClient(SQLClient):
    def __init__(self, log: FlowLogger, config: EndpointConfig, conn: Connection) -> None:
        self.log = log
        self.config = config
        self.conn = conn

    @classmethod
    async def open(cls, log: FlowLogger, config: EndpointConfig) -> PostgresClient:
        return cls(log, config, await connect(config))

    @property
    def checkpoints(self) -> str:
        return DIALECT.path([self.config.schema_name, CHECKPOINTS_TABLE])

    async def info_schema(self, paths: Sequence[Sequence[str]]) -> InfoSchema:
        wanted = {tuple(DIALECT.identifier(p) for p in path) for path in paths if len(path) == 2}
        schemas = sorted({s for s, _ in wanted})
        try:
            cur = await self.conn.execute(
                "SELECT nspname FROM pg_catalog.pg_namespace WHERE nspname = ANY(%s)", (schemas,)
            )
            existing_schemas = {row[0] for row in await cur.fetchall()}
            cur = await self.conn.execute(
                "SELECT table_schema, table_name FROM information_schema.tables "
                "WHERE table_catalog = current_database() AND table_schema = ANY(%s)",
                (schemas,),
            )
            tables = {(s, t) for s, t in await cur.fetchall() if (s, t) in wanted}
            cur = await self.conn.execute(
                "SELECT table_schema, table_name, column_name, is_nullable, data_type, column_default "
                "FROM information_schema.columns WHERE table_catalog = current_database() "
                "AND table_schema = ANY(%s) ORDER BY table_schema, table_name, ordinal_position",
                (schemas,),
            )
            columns = await cur.fetchall()
            await self.conn.rollback()
        except psycopg.Error as exc:
            raise pg_error(exc, "reading the database's tables (information_schema) failed") from None
        info = InfoSchema(DIALECT)
        by_table = {path: ExistingTable(path) for path in sorted(tables)}
        for schema, table, name, nullable, data_type, default in columns:
            found = by_table.get((schema, table))
            if found is not None:
                found.columns.append(ExistingColumn(name, data_type, nullable == "YES", default is not None))
        for found in by_table.values():
            info.add(found)
        info.namespaces = existing_schemas
        return info

    async def run_ddl(self, statements: Sequence[str]) -> None:
        """Apply's statements (schemas first, then tables) in one transaction."""
        statement = ""
        try:
            async with self.conn.transaction():
                for statement in statements:
                    # Without parameters a statement is sent as is: `%` needs no escaping, and a
                    # resource's additional SQL may hold several statements.
                    await self.conn.execute(statement.encode())
        except psycopg.Error as exc:
            first = statement.strip().splitlines()[0] if statement.strip() else statement
            raise pg_error(
                exc, f"applying the table changes failed (nothing was changed) at {first!r}"
            ) from None

    async def has_checkpoint(self, materialization: str) -> bool:
        try:
            cur = await self.conn.execute("SELECT to_regclass(%s)", (self.checkpoints,))
            row = await cur.fetchone()
            if row is None or row[0] is None:
                return False
            cur = await self.conn.execute(
                f"SELECT 1 FROM {self.checkpoints} WHERE materialization = %s LIMIT 1", (materialization,)
            )
            found = await cur.fetchone() is not None
            await self.conn.rollback()
        except psycopg.Error as exc:
            raise pg_error(exc, f"reading {self.checkpoints} failed") from None
        return found

    async def install_fence(self, materialization: str, key_begin: int, key_end: int) -> Fence:
        try:
            fence = await install_fence(
                _Executor(self.conn), self.checkpoints, placeholder, materialization, key_begin, key_end
            )
            await self.conn.commit()
        except psycopg.errors.UndefinedTable:
            raise ConnectorError(
                f"the database has no {self.checkpoints} table: run Apply before Open "
                f"(schema {self.config.schema_name!r} is the endpoint's `schema` setting)"
            ) from None
        except psycopg.Error as exc:
            raise pg_error(exc, f"installing the checkpoint fence in {self.checkpoints} failed") from None
        return fence

    async def close(self) -> None:
        if not self.conn.closed:
            await self.conn.close()
