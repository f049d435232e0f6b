"""The SQL most destinations share: CREATE TABLE, the row statements of a store (insert, update by
key, delete by key) and the key join of a load. A connector uses these or renders its own."""

from __future__ import annotations

from collections.abc import Callable

from .table import Column, Table

__all__ = ["Placeholder", "create_table", "delete_row", "insert_row", "load_join", "update_row"]

Placeholder = Callable[[int], str]
"""The n-th (1-based) statement parameter: `?`, `$n`, `%s`, ..."""


def create_table(table: Table, column_comment: Callable[[Column], str] | None = None) -> str:
    """`CREATE TABLE IF NOT EXISTS` with keys, values and the document in order, each NOT NULL
    when the field must exist, and the key as primary key (standard updates only)."""
    lines = [f"    {c.quoted} {c.mapped.ddl}" for c in table.columns]
    if not table.delta_updates and table.keys:
        lines.append(f"    PRIMARY KEY ({', '.join(c.quoted for c in table.keys)})")
    return f"CREATE TABLE IF NOT EXISTS {table.quoted} (\n" + ",\n".join(lines) + "\n);"


def insert_row(table: Table, p: Placeholder) -> str:
    """Insert one row; parameters are the columns in order."""
    columns = table.columns
    return (
        f"INSERT INTO {table.quoted} ({', '.join(c.quoted for c in columns)}) "
        f"VALUES ({', '.join(p(i + 1) for i in range(len(columns)))})"
    )


def update_row(table: Table, p: Placeholder) -> str:
    """Update the non-key columns of the row with a key; parameters are the non-key columns in
    order, then the key columns."""
    rest = [*table.values, *((table.document,) if table.document else ())]
    n = len(rest)
    sets = ", ".join(f"{c.quoted} = {p(i + 1)}" for i, c in enumerate(rest))
    where = " AND ".join(f"{c.quoted} = {p(n + i + 1)}" for i, c in enumerate(table.keys))
    return f"UPDATE {table.quoted} SET {sets} WHERE {where}"


def delete_row(table: Table, p: Placeholder) -> str:
    """Delete the row with a key; parameters are the key columns."""
    where = " AND ".join(f"{c.quoted} = {p(i + 1)}" for i, c in enumerate(table.keys))
    return f"DELETE FROM {table.quoted} WHERE {where}"


def load_join(table: Table, keys_table: str) -> str:
    """The stored documents of the keys in `keys_table` (a table with the key columns, by the
    same names): `SELECT <binding>, <document>`."""
    assert table.document is not None, "loads need the document column"
    on = " AND ".join(f"l.{c.quoted} = r.{c.quoted}" for c in table.keys)
    return f"SELECT {table.binding}, r.{table.document.quoted} FROM {keys_table} AS l JOIN {table.quoted} AS r ON {on}"
