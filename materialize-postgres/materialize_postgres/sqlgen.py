"""PostgreSQL's dialect, column types, type migrations and Apply's DDL (materialize-sql.md §2, §4).

Names: quoted unless plain lowercase and not a keyword (`keywords.py`), cut at 63 bytes as the
server cuts them (the field is then reported folded). Types follow Estuary's Postgres column:
formatted strings become TIMESTAMPTZ/DATE/TIME/UUID/INTERVAL/CIDR/MACADDR columns, except in the
key, where date and time formats stay TEXT so that a key round-trips to the exact string the
runtime sent; integers whose schema allows more than 64 bits and `format: integer|number` strings
are NUMERIC; objects, arrays, values of several types and the document are JSON; base64 strings are
BYTEA; NUL characters, which PostgreSQL text cannot hold, are dropped from text, and year 0000,
which it cannot hold either, becomes 0001-01-01.

Type changes widen a column in place (`ALTER COLUMN ... TYPE ... USING`), inside Apply's one
transaction; anything narrower is INCOMPATIBLE at Validate and needs a backfill.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from estuary_cdk.flow import Projection
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
from estuary_cdk.materialize.sql.table import Column
from estuary_cdk.materialize.sql.types import base64_bytes, json_text, json_value_text

from .keywords import KEYWORDS

__all__ = ["DIALECT", "MIGRATIONS", "TYPES", "render_plan"]

MAX_IDENTIFIER_BYTES = 63
"""NAMEDATALEN - 1: PostgreSQL cuts longer identifiers to this many bytes."""

DIALECT = Dialect("postgres", KEYWORDS, max_identifier_bytes=MAX_IDENTIFIER_BYTES, default_schema="public")


def strip_nul(value: Any) -> Any:
    """Text without NUL characters (PostgreSQL text cannot hold them; Estuary drops them too)."""
    if isinstance(value, str) and "\x00" in value:
        return value.replace("\x00", "")
    return value


def clamp_timestamp(value: Any) -> Any:
    """Year 0000 (valid JSON schema, out of PostgreSQL's range) as the earliest instant
    PostgreSQL keeps, as Estuary's connector does."""
    if isinstance(value, str) and value.startswith("0000"):
        return "0001-01-01T00:00:00Z"
    return value


def clamp_date(value: Any) -> Any:
    """Year 0000 as 0001-01-01 (see `clamp_timestamp`)."""
    if isinstance(value, str) and value.startswith("0000"):
        return "0001-01-01"
    return value


_TEXT = ColumnType("TEXT", frozenset({"text", "character varying", "character"}))
_PLAIN_TEXT = ColumnType("TEXT", frozenset({"text", "character varying", "character"}), strip_nul)
_JSON = ColumnType("JSON", frozenset({"json", "jsonb"}), json_text)
_NUMERIC = ColumnType("NUMERIC", frozenset({"numeric"}))

TYPES = TypeMap(
    boolean=ColumnType("BOOLEAN", frozenset({"boolean"})),
    integer=ColumnType("BIGINT", frozenset({"bigint", "integer", "smallint"})),
    wide_integer=_NUMERIC,
    number=ColumnType("DOUBLE PRECISION", frozenset({"double precision"})),
    string=_PLAIN_TEXT,
    string_integer=_NUMERIC,
    string_number=_NUMERIC,
    binary=ColumnType("BYTEA", frozenset({"bytea"}), base64_bytes),
    object=_JSON,
    array=_JSON,
    multiple=ColumnType("JSON", frozenset({"json", "jsonb"}), json_value_text),
    document=ColumnType("JSON", frozenset({"json", "jsonb"})),
    formats={
        "date-time": ColumnType("TIMESTAMPTZ", frozenset({"timestamp with time zone"}), clamp_timestamp),
        "date": ColumnType("DATE", frozenset({"date"}), clamp_date),
        "time": ColumnType("TIME", frozenset({"time without time zone"})),
        "uuid": ColumnType("UUID", frozenset({"uuid", "text"})),
        "duration": ColumnType("INTERVAL", frozenset({"interval"})),
        "ipv4": ColumnType("CIDR", frozenset({"cidr"})),
        "ipv6": ColumnType("CIDR", frozenset({"cidr"})),
        "macaddr": ColumnType("MACADDR", frozenset({"macaddr"})),
        "macaddr8": ColumnType("MACADDR8", frozenset({"macaddr8"})),
    },
    key_formats={"date-time": _TEXT, "date": _TEXT, "time": _TEXT},
    string_converter=strip_nul,
)


def _migrations() -> Migrations:
    """From each type PostgreSQL reports (information_schema `data_type`) to the wider ones."""
    text = Migration("text")
    to_json = Migration("json", "to_json({column})")
    specs: dict[str, list[Migration]] = {
        "bigint": [Migration("double precision"), Migration("numeric"), text],
        "integer": [Migration("double precision"), Migration("numeric"), text],
        "smallint": [Migration("double precision"), Migration("numeric"), text],
        "numeric": [Migration("double precision"), text],
        "double precision": [text],
        "real": [Migration("double precision"), text],
        "boolean": [text],
        "date": [text],
        "time without time zone": [text],
        "timestamp with time zone": [
            Migration("text", "to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')")
        ],
        "text": [Migration("bytea", "decode({column}, 'base64')")],
        "character varying": [text, Migration("bytea", "decode({column}, 'base64')")],
        "bytea": [Migration("text", "translate(encode({column}, 'base64'), E'\\n', '')")],
        "json": [Migration("jsonb"), text],
        "jsonb": [text],
        "uuid": [],
        "interval": [],
        "cidr": [],
        "macaddr": [],
        "macaddr8": [],
    }
    # Any value can become JSON (a field that gained types).
    return Migrations({existing: [*targets, to_json] for existing, targets in specs.items()})


MIGRATIONS = _migrations()


# -- DDL -------------------------------------------------------------------------------------------


def _types_text(projection: Projection) -> str:
    return "[" + ", ".join(projection.inference.types) + "]"


def column_comment(column: Column) -> str:
    """Estuary's column comment: title, description, and where the value comes from."""
    p = column.projection
    origin = "user-provided" if p.explicit else "auto-generated"
    lines = [line for line in (p.inference.title, p.inference.description) if line]
    lines.append(f"{origin} projection of JSON at: {p.ptr} with inferred types: {_types_text(p)}")
    return "\n".join(lines)


def _comments(table: Table, columns: Sequence[Column], materialization: str | None) -> list[str]:
    out = []
    if materialization is not None:
        out.append(
            f"COMMENT ON TABLE {table.quoted} IS "
            f"{DIALECT.literal(f'Generated for materialization {materialization} of collection {table.collection}')};"
        )
    out.extend(
        f"COMMENT ON COLUMN {table.quoted}.{c.quoted} IS {DIALECT.literal(column_comment(c))};"
        for c in columns
    )
    return out


def _create(table: Table, materialization: str, additional_sql: str) -> list[str]:
    statements = [create_table(table), *_comments(table, table.columns, materialization)]
    if additional_sql.strip():
        statements.append(additional_sql.strip())
    return statements


def _alter(plan: TablePlan) -> list[str]:
    table = plan.table
    clauses = [f"ADD COLUMN {c.quoted} {c.mapped.nullable_ddl}" for c in plan.add]
    clauses += [f"ALTER COLUMN {DIALECT.quote(c.name)} DROP NOT NULL" for c in plan.drop_not_null]
    for m in plan.migrate:
        quoted, ddl = DIALECT.quote(m.existing.name), m.column.mapped.column.ddl
        clauses.append(f"ALTER COLUMN {quoted} TYPE {ddl} USING {m.migration.expression(quoted, ddl)}")
    if not clauses:
        return []
    body = ",\n    ".join(clauses)
    return [f"ALTER TABLE {table.quoted}\n    {body};", *_comments(table, plan.add, None)]


def render_plan(plan: TablePlan, materialization: str, additional_sql: str = "") -> list[str]:
    """The statements of an Apply plan for one table (`additional_sql`: the resource's
    `additional_table_create_sql`, run when the table is created)."""
    table = plan.table
    if plan.action == "create":
        return _create(table, materialization, additional_sql)
    if plan.action == "replace":
        return [f"DROP TABLE {table.quoted};", *_create(table, materialization, additional_sql)]
    statements = [f"TRUNCATE TABLE {table.quoted};"] if plan.action == "truncate" else []
    return statements + _alter(plan)
