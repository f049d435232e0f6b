"""The SQL of one binding's table on the store path: COPY into the table, the session's temporary
staging tables, and the set-based statements that apply them.

Every transaction writes through COPY, never a statement per row (materialize-sql.md §3.2-3.3
does one per row; we do not): new rows are COPY'd into the table itself; updated rows and the
keys of hard deletes are COPY'd into temporary tables of the session, then applied by one
`UPDATE ... FROM` and one `DELETE ... USING` per binding at commit; the keys of a load are COPY'd
into a temporary table and answered by one join for all bindings at flush. Staging tables take
their column types from the target table (`CREATE TEMP TABLE ... AS SELECT ... WITH NO DATA`),
so values parse exactly as they would into the table, and are emptied by every commit or
rollback (`ON COMMIT DELETE ROWS`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import orjson
from estuary_cdk.materialize import Store
from estuary_cdk.materialize.sql import Table, load_join
from estuary_cdk.materialize.sql.table import Column

from .sqlgen import DIALECT

__all__ = ["BindingSQL", "load_query"]

Row = tuple[Any, ...]


def _converter(columns: Sequence[Column]) -> Callable[[Row], Sequence[Any]]:
    """Packed values of `columns` (in order) to COPY values: only the columns that need it are
    converted (most values go to COPY as they were unpacked)."""
    steps = [(i, c.convert) for i, c in enumerate(columns) if c.convert is not None]
    if not steps:
        return lambda row: row

    def convert(row: Row) -> list[Any]:
        out = list(row)
        for i, fn in steps:
            out[i] = fn(out[i])
        return out

    return convert


def _names(columns: Sequence[Column]) -> str:
    return ", ".join(c.quoted for c in columns)


class BindingSQL:
    """Statements and row builders of one binding's table."""

    def __init__(self, table: Table) -> None:
        self.table = table
        keys, rest = table.keys, [*table.values, *((table.document,) if table.document else ())]
        self.keys, self.rest = keys, rest
        self.load_table = DIALECT.quote(f"flow_load_{table.binding}")
        self.update_table = DIALECT.quote(f"flow_update_{table.binding}")
        self.delete_table = DIALECT.quote(f"flow_delete_{table.binding}")

        columns = _names(table.columns)
        self.copy_insert = f"COPY {table.quoted} ({columns}) FROM STDIN"
        self.copy_update = f"COPY {self.update_table} ({columns}) FROM STDIN"
        self.copy_load = f"COPY {self.load_table} ({_names(keys)}) FROM STDIN"
        self.copy_delete = f"COPY {self.delete_table} ({_names(keys)}) FROM STDIN"

        on = " AND ".join(f"t.{c.quoted} = s.{c.quoted}" for c in keys)
        sets = ", ".join(f"{c.quoted} = s.{c.quoted}" for c in rest)
        self.apply_updates = (
            f"UPDATE {table.quoted} AS t SET {sets} FROM {self.update_table} AS s WHERE {on}" if rest else ""
        )
        self.apply_deletes = f"DELETE FROM {table.quoted} AS t USING {self.delete_table} AS s WHERE {on}"

        convert_row = _converter([*keys, *table.values])
        self.convert_key = _converter(keys)
        dumps = orjson.dumps
        if table.document is not None:

            def row(s: Store) -> Sequence[Any]:
                return (*convert_row(s.key + s.values), dumps(s.doc).decode())

        else:

            def row(s: Store) -> Sequence[Any]:
                return convert_row(s.key + s.values)

        self.row: Callable[[Store], Sequence[Any]] = row
        self.has_document = table.document is not None

    def row_size(self, row: Sequence[Any]) -> int:
        """About how many bytes a row holds (its document dominates when there is one)."""
        return 16 * len(row) + (len(row[-1]) if self.has_document and len(row) > len(self.keys) else 0)

    def staging_ddl(self, hard_delete: bool) -> list[str]:
        """The session's temporary tables of this binding (none for delta updates, which only
        insert)."""
        if self.table.delta_updates or not self.keys:
            return []

        def temp(name: str, columns: Sequence[Column]) -> str:
            return (
                f"CREATE TEMPORARY TABLE {name} ON COMMIT DELETE ROWS AS "
                f"SELECT {_names(columns)} FROM {self.table.quoted} WITH NO DATA"
            )

        statements = [temp(self.load_table, self.keys), temp(self.update_table, self.table.columns)]
        if hard_delete:
            statements.append(temp(self.delete_table, self.keys))
        return statements


def load_query(bindings: Sequence[BindingSQL]) -> str:
    """The stored documents of the staged keys of `bindings`, as one `COPY ... TO STDOUT`:
    rows of (binding index, document JSON)."""
    return f"COPY ({' UNION ALL '.join(load_join(b.table, b.load_table) for b in bindings)}) TO STDOUT"
