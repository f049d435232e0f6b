"""SQLite's dialect, column types, migrations and DDL.

SQLite compares identifiers case-insensitively (`"Abc"` and `"abc"` are one column), so the
dialect says so and Validate folds such fields to one name. Column types are declared types
(SQLite stores any value in any column, with the declared type's affinity); integers whose schema
allows values beyond 64 bits, and numeric strings (`format: integer|number`), go to TEXT, since
SQLite's numeric affinities cannot hold them exactly.
SQLite cannot change a column's type or nullability in place: such an Apply rebuilds the table
(new table, copy with casts, swap) inside one transaction.
"""

from __future__ import annotations

from estuary_cdk.materialize.sql import (
    ColumnType,
    Dialect,
    Migration,
    Migrations,
    Table,
    TablePlan,
    TypeMap,
    create_table,
)
from estuary_cdk.materialize.sql.types import base64_bytes, json_text, json_value_text

__all__ = ["DIALECT", "MIGRATIONS", "TYPES", "render_plan"]

# Every SQLite keyword (sqlite.org/lang_keywords.html), lowercase.
_KEYWORDS = frozenset(
    """abort action add after all alter always analyze and as asc attach autoincrement before begin
    between by cascade case cast check collate column commit conflict constraint create cross current
    current_date current_time current_timestamp database default deferrable deferred delete desc
    detach distinct do drop each else end escape except exclude exclusive exists explain fail filter
    first following for foreign from full generated glob group groups having if ignore immediate in
    index indexed initially inner insert instead intersect into is isnull join key last left like
    limit match materialized natural no not nothing notnull null nulls of offset on or order others
    outer over partition plan pragma preceding primary query raise range recursive references regexp
    reindex release rename replace restrict returning right rollback row rows savepoint select set
    table temp temporary then ties to transaction trigger unbounded union unique update using vacuum
    values view virtual when where window with without""".split()
)

DIALECT = Dialect("sqlite", _KEYWORDS, case_insensitive=True)

_TEXT = ColumnType("TEXT")
_JSON = ColumnType("TEXT", convert=json_text)

TYPES = TypeMap(
    boolean=ColumnType("BOOLEAN"),
    integer=ColumnType("INTEGER"),
    wide_integer=ColumnType("TEXT", convert=lambda v: None if v is None else str(v)),
    number=ColumnType("REAL"),
    string=_TEXT,
    # Numeric strings stay text: SQLite's numeric affinities turn digits beyond 64 bits (or a
    # decimal's extra precision) into a lossy REAL. CAST them to compute.
    string_integer=_TEXT,
    string_number=_TEXT,
    binary=ColumnType("BLOB", convert=base64_bytes),
    object=_JSON,
    array=_JSON,
    multiple=ColumnType("TEXT", convert=json_value_text),
    document=ColumnType("TEXT"),
)

MIGRATIONS = Migrations(
    {
        "boolean": [Migration("integer"), Migration("real"), Migration("text")],
        "integer": [Migration("real"), Migration("text")],
        "real": [Migration("text")],
    }
)


def _column_definitions(plan: TablePlan) -> list[str]:
    """Every column of the rebuilt table: the existing ones in their order (with their new type
    and nullability), then the added ones."""
    table, existing = plan.table, plan.existing
    assert existing is not None
    migrated = {m.existing.name: m.column for m in plan.migrate}
    unnulled = {c.name for c in plan.drop_not_null}
    lines = []
    for col in existing.columns:
        if col.name in migrated:
            lines.append(f"{DIALECT.quote(col.name)} {migrated[col.name].mapped.column.ddl}")
            continue
        null = "" if col.nullable or col.name in unnulled else " NOT NULL"
        lines.append(f"{DIALECT.quote(col.name)} {col.data_type}{null}".rstrip())
    lines.extend(f"{c.quoted} {c.mapped.nullable_ddl}" for c in plan.add)
    if not table.delta_updates and table.keys:
        lines.append(f"PRIMARY KEY ({', '.join(c.quoted for c in table.keys)})")
    return lines


def _rebuild(plan: TablePlan) -> list[str]:
    table, existing = plan.table, plan.existing
    assert existing is not None
    scratch = DIALECT.quote(table.path[-1] + "_flowtmp1")
    names = [DIALECT.quote(c.name) for c in existing.columns]
    casts = {
        m.existing.name: m.migration.expression(DIALECT.quote(m.existing.name), m.column.mapped.column.ddl)
        for m in plan.migrate
    }
    selects = [casts.get(c.name, DIALECT.quote(c.name)) for c in existing.columns]
    body = ",\n    ".join(_column_definitions(plan))
    return [
        f"CREATE TABLE {scratch} (\n    {body}\n);",
        f"INSERT INTO {scratch} ({', '.join(names)}) SELECT {', '.join(selects)} FROM {table.quoted};",
        f"DROP TABLE {table.quoted};",
        f"ALTER TABLE {scratch} RENAME TO {DIALECT.quote(table.path[-1])};",
    ]


def _alter(plan: TablePlan) -> list[str]:
    if plan.migrate or plan.drop_not_null:
        return _rebuild(plan)
    return [
        f"ALTER TABLE {plan.table.quoted} ADD COLUMN {c.quoted} {c.mapped.nullable_ddl};" for c in plan.add
    ]


def render_plan(plan: TablePlan) -> list[str]:
    """The statements of an Apply plan for one table."""
    table: Table = plan.table
    if plan.action == "create":
        return [create_table(table)]
    if plan.action == "replace":
        return [f"DROP TABLE {table.quoted};", create_table(table)]
    statements = [f"DELETE FROM {table.quoted};"] if plan.action == "truncate" else []
    return statements + _alter(plan)
