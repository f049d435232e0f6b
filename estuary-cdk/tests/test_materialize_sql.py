"""The shared SQL layer: names, types, constraints, Apply plans and the checkpoint fence."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

import pytest
from estuary_cdk import ConnectorError
from estuary_cdk.flow import Projection
from estuary_cdk.materialize.request import MaterializationBinding, ValidateBinding
from estuary_cdk.materialize.sql import (
    ColumnType,
    Dialect,
    ExistingColumn,
    ExistingTable,
    FencedOff,
    FlatType,
    Migration,
    Migrations,
    Table,
    TypeMap,
    checkpoints_ddl,
    flat_type,
    install_fence,
    plan_table,
)
from estuary_cdk.materialize.sql.constraints import BindingCheck, hard_errors, validate_binding

DIALECT = Dialect("test", frozenset({"select", "table"}), max_identifier_bytes=8, case_insensitive=True)
TEXT = ColumnType("TEXT")
TYPES = TypeMap(
    boolean=ColumnType("BOOLEAN"),
    integer=ColumnType("BIGINT", also=frozenset({"integer"})),
    wide_integer=ColumnType("NUMERIC"),
    number=ColumnType("DOUBLE"),
    string=TEXT,
    string_integer=ColumnType("NUMERIC"),
    string_number=ColumnType("NUMERIC"),
    binary=ColumnType("BYTES"),
    object=ColumnType("JSON"),
    array=ColumnType("JSON"),
    multiple=ColumnType("JSON"),
    document=ColumnType("JSON"),
    formats={"date-time": ColumnType("TIMESTAMPTZ")},
    key_formats={"date-time": TEXT},
)
MIGRATIONS = Migrations({"bigint": [Migration("double"), Migration("text")]})


def proj(
    field: str, types: Sequence[str], exists: str = "MUST", ptr: str | None = None, **extra: Any
) -> Projection:
    return Projection.model_validate(
        {
            "ptr": ptr if ptr is not None else "/" + field,
            "field": field,
            "inference": {"types": types, "exists": exists, **extra},
        }
    )


# -- names --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "quoted"),
    [
        ("id", "id"),
        ("_id2", "_id2"),
        ("select", '"select"'),
        ("Upper", '"Upper"'),
        ("2x", '"2x"'),
        ("a b", '"a b"'),
        ('say "hi"', '"say ""hi"""'),
        ("_meta/op", '"_meta/op"'),
        ("ééééé", "éééé"),  # cut at 8 bytes, never inside a character
        ("Éé", '"Éé"'),
    ],
)
def test_identifiers_are_bare_only_when_plain(name: str, quoted: str) -> None:
    assert DIALECT.quote(name) == quoted


def test_names_fold_and_compare_as_the_destination_does() -> None:
    assert DIALECT.folded("averylongname") == "averylon"
    assert DIALECT.folded("short") == ""
    assert DIALECT.same_name("ABC", "abc")
    assert not Dialect("cs", frozenset()).same_name("ABC", "abc")
    assert DIALECT.literal("it's") == "'it''s'"
    assert DIALECT.path(["public", "my table"]) == 'public."my table"'


# -- types --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("projection", "is_key", "flat", "must_exist"),
    [
        (proj("a", ["integer"]), False, FlatType.INTEGER, True),
        (proj("a", ["integer", "null"]), False, FlatType.INTEGER, False),
        (proj("a", ["integer", "number"]), False, FlatType.NUMBER, True),
        (proj("a", ["string"], "MAY"), False, FlatType.STRING, False),
        (proj("a", ["string"], string={"format": "integer"}), False, FlatType.STRING_INTEGER, True),
        (
            proj("a", ["integer", "string"], string={"format": "integer"}),
            False,
            FlatType.STRING_INTEGER,
            True,
        ),
        (proj("a", ["string"], string={"format": "integer"}), True, FlatType.STRING, True),
        (proj("a", ["string"], string={"format": "number"}), False, FlatType.STRING_NUMBER, True),
        (proj("a", ["string"], string={"contentEncoding": "base64"}), False, FlatType.BINARY, True),
        (
            proj("a", ["string"], string={"contentEncoding": "base64", "contentType": "text/plain"}),
            False,
            FlatType.STRING,
            True,
        ),
        (proj("a", ["object", "string"]), False, FlatType.MULTIPLE, True),
        (proj("a", ["null"]), False, FlatType.NULL, False),
        (proj("a", [], "MAY"), False, FlatType.NEVER, False),
    ],
)
def test_flat_types(projection: Projection, is_key: bool, flat: FlatType, must_exist: bool) -> None:
    assert flat_type(projection, is_key) == (flat, must_exist)


def test_column_types_and_conversions() -> None:
    when = proj("when", ["string"], string={"format": "date-time"})
    assert TYPES.map(when).ddl == "TIMESTAMPTZ NOT NULL"
    assert TYPES.map(when, is_key=True).ddl == "TEXT NOT NULL"  # keys round-trip exactly
    wide = proj("n", ["integer"], "MAY", numeric={"hasMaximum": True, "maximum": 2**64 - 1})
    assert TYPES.map(wide).ddl == "NUMERIC"
    assert TYPES.map(proj("x", ["integer"]), {"DDL": "SMALLINT"}).compatible("anything")
    cast = TYPES.map(proj("x", ["integer"]), {"castToString": True})
    assert cast.ddl == "TEXT NOT NULL" and cast.column.convert is not None
    assert cast.column.convert(12) == "12" and cast.column.convert(b'{"a":1}') == '{"a":1}'
    assert TYPES.map(Projection(field="flow_document")).ddl == "JSON NOT NULL"
    with pytest.raises(ValueError, match="type null cannot be materialized"):
        TYPES.map(proj("x", ["null"]))
    assert TYPES.integer.matches("INTEGER") and TYPES.integer.matches(" bigint ")


# -- constraints --------------------------------------------------------------------------------

PROJECTIONS = [
    proj("id", ["integer"], isPrimaryKey=True),
    proj("name", ["string"], "MAY"),
    proj("tags", ["array"], "MAY"),
    proj("obj", ["object"], "MAY"),
    proj("nothing", ["null"], "MAY"),
    proj("_meta/op", ["string"]),
    proj("_meta/flow_truncated", ["boolean"]),
    Projection(field="flow_document", inference={"types": ["object"], "exists": "MUST"}),  # type: ignore[arg-type]
    Projection(field="doc_again", inference={"types": ["object"], "exists": "MUST"}),  # type: ignore[arg-type]
]
for p in PROJECTIONS:
    if p.field == "id":
        p.isPrimaryKey = True


def vbinding(backfill: int = 0, projections: list[Projection] = PROJECTIONS) -> ValidateBinding[Any]:
    return ValidateBinding[dict[str, Any]].model_validate(
        {
            "resourceConfig": {"table": "t"},
            "collection": {"name": "c", "key": ["/id"], "projections": [p.model_dump() for p in projections]},
            "backfill": backfill,
        }
    )


def last(
    backfill: int = 0, delta: bool = False, document: str = "flow_document"
) -> MaterializationBinding[Any]:
    return MaterializationBinding[dict[str, Any]].model_validate(
        {
            "resourceConfig": {"table": "t"},
            "resourcePath": ["t"],
            "collection": {"name": "c", "key": ["/id"]},
            "fieldSelection": {"keys": ["id"], "values": ["name"], "document": document},
            "backfill": backfill,
            "deltaUpdates": delta,
        }
    )


def constraints(check: BindingCheck) -> dict[str, str]:
    return {f: c.type for f, c in validate_binding(check, DIALECT, TYPES, MIGRATIONS).items()}


EXISTING = ExistingTable(
    ("t",),
    [
        ExistingColumn("id", "BIGINT", False),
        ExistingColumn("name", "BOOLEAN", True),  # the field is a string now: no migration makes TEXT
        ExistingColumn("flow_document", "JSON", False),
    ],
)


def test_constraints_of_a_new_binding() -> None:
    got = constraints(BindingCheck(vbinding(), ["t"], False, None, None))
    assert got == {
        "id": "LOCATION_REQUIRED",
        "name": "LOCATION_RECOMMENDED",
        "tags": "LOCATION_RECOMMENDED",
        "obj": "FIELD_OPTIONAL",
        "nothing": "FIELD_FORBIDDEN",
        "_meta/op": "LOCATION_RECOMMENDED",
        "_meta/flow_truncated": "FIELD_OPTIONAL",
        "flow_document": "LOCATION_REQUIRED",
        "doc_again": "FIELD_FORBIDDEN",
    }
    delta = constraints(BindingCheck(vbinding(), ["t"], True, None, None))
    assert delta["id"] == delta["flow_document"] == delta["doc_again"] == "LOCATION_RECOMMENDED"


def test_constraints_of_an_existing_table() -> None:
    check = BindingCheck(vbinding(), ["t"], False, EXISTING, last())
    got = validate_binding(check, DIALECT, TYPES, MIGRATIONS)
    assert got["id"].type == "FIELD_REQUIRED"
    assert got["flow_document"].type == "FIELD_REQUIRED"
    assert got["doc_again"].type == "FIELD_FORBIDDEN"
    assert got["name"].type == "INCOMPATIBLE"
    assert got["name"].reason == (
        "Field 'name' is already being materialized as endpoint type 'BOOLEAN' but endpoint type 'TEXT' is "
        "required by its schema '{ type: [string] }'"
    )
    assert got["tags"].type == "LOCATION_RECOMMENDED"  # no column yet: Apply adds one


def test_a_widening_is_compatible_and_a_backfill_frees_every_field() -> None:
    widened = [proj("id", ["integer"], isPrimaryKey=True), proj("name", ["number"], "MAY")]
    widened.append(Projection(field="flow_document", inference={"types": ["object"], "exists": "MUST"}))  # type: ignore[arg-type]
    existing = ExistingTable(("t",), [*EXISTING.columns[::2], ExistingColumn("name", "BIGINT", True)])
    got = constraints(BindingCheck(vbinding(projections=widened), ["t"], False, existing, last()))
    assert got["name"] == "FIELD_OPTIONAL"  # BIGINT -> DOUBLE migrates
    backfilled = constraints(BindingCheck(vbinding(backfill=1), ["t"], False, EXISTING, last(backfill=0)))
    assert backfilled["name"] == "LOCATION_RECOMMENDED"  # the table will be emptied or replaced


def test_hard_errors_are_reported_together() -> None:
    nullable_key = [proj("id", ["integer", "null"], isPrimaryKey=True)]
    check = BindingCheck(vbinding(projections=nullable_key), ["t"], False, EXISTING, last(delta=True))
    errors = hard_errors(check)
    assert errors == [
        "cannot materialize collection 'c' with nullable key field 'id' unless it has a default value annotation",
        "binding for table t: changing from delta updates to standard updates is not allowed (backfill into a "
        "new table instead)",
        "collection 'c' has no root document projection, which standard updates require",
    ]
    foreign = BindingCheck(vbinding(), ["t"], False, EXISTING, None, materialization_known=False)
    assert "already exists for new binding" in hard_errors(foreign)[0]
    ours = BindingCheck(vbinding(), ["t"], False, EXISTING, None, materialization_known=True)
    assert hard_errors(ours) == []


def test_case_insensitive_destinations_fold_field_names() -> None:
    projections = [*PROJECTIONS, proj("Name", ["string"], "MAY")]
    got = validate_binding(
        BindingCheck(vbinding(projections=projections), ["t"], False, None, None), DIALECT, TYPES, MIGRATIONS
    )
    assert got["Name"].foldedField == "name"  # the runtime refuses to select both
    assert got["name"].foldedField == ""


# -- apply plans --------------------------------------------------------------------------------


def table(
    fields: list[str], projections: list[Projection] = PROJECTIONS
) -> tuple[Table, MaterializationBinding[Any]]:
    binding = MaterializationBinding[dict[str, Any]].model_validate(
        {
            "resourceConfig": {"table": "t"},
            "resourcePath": ["t"],
            "collection": {"name": "c", "key": ["/id"], "projections": [p.model_dump() for p in projections]},
            "fieldSelection": {"keys": ["id"], "values": fields, "document": "flow_document"},
        }
    )
    return Table.of(DIALECT, TYPES, 0, binding), binding


def test_plans_create_alter_and_refuse() -> None:
    t, b = table(["tags"])
    assert plan_table(t, b, None, None, DIALECT, MIGRATIONS).action == "create"
    plan = plan_table(t, b, EXISTING, None, DIALECT, MIGRATIONS)
    assert plan.action == "alter" and [c.field for c in plan.add] == ["tags"] and not plan.migrate
    with pytest.raises(ConnectorError, match="column name is BOOLEAN but field 'name' needs TEXT"):
        plan_table(*table(["name"]), EXISTING, None, DIALECT, MIGRATIONS)
    # The same incompatible change with a new backfill counter replaces the table instead.
    t, b = table(["name"])
    b.backfill = 1
    assert plan_table(t, b, EXISTING, last(backfill=0), DIALECT, MIGRATIONS).action == "replace"


def test_plans_widen_relax_and_truncate() -> None:
    widened = [proj("id", ["integer"], isPrimaryKey=True), proj("name", ["number"], "MAY")]
    widened.append(Projection(field="flow_document", inference={"types": ["object"], "exists": "MUST"}))  # type: ignore[arg-type]
    existing = ExistingTable(
        ("t",),
        [
            *EXISTING.columns[::2],
            ExistingColumn("name", "BIGINT", True),
            ExistingColumn("gone", "TEXT", False),
        ],
    )
    t, b = table(["name"], widened)
    plan = plan_table(t, b, existing, last(), DIALECT, MIGRATIONS)
    assert plan.action == "alter"
    assert [(m.existing.name, m.migration.target) for m in plan.migrate] == [("name", "double")]
    assert [c.name for c in plan.drop_not_null] == ["gone"]  # no longer selected; kept, nullable
    b.backfill = 2
    assert plan_table(t, b, existing, last(backfill=1), DIALECT, MIGRATIONS).action == "truncate"
    assert plan_table(t, b, existing, last(backfill=2), DIALECT, MIGRATIONS).action == "alter"


# -- the fence ----------------------------------------------------------------------------------


class _SQLite:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self.conn.execute(sql, params).rowcount

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self.conn.execute(sql, params).fetchall()


async def test_fences_of_overlapping_ranges() -> None:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.execute(checkpoints_ddl("cp"))
    db = _SQLite(conn)

    async def fence(name: str, begin: int, end: int) -> Any:
        return await install_fence(db, "cp", lambda _: "?", name, begin, end)

    first = await fence("m", 0, 1000)
    assert (first.fence, first.checkpoint) == (0, None)
    sql, params = first.commit_statement({"sources": {"j": {"readThrough": "5"}}})
    first.check_committed(conn.execute(sql, params).rowcount)

    # A split child range inherits its parent's checkpoint and fence, and fences the parent.
    child = await fence("m", 0, 499)
    assert (child.fence, child.checkpoint) == (1, {"sources": {"j": {"readThrough": "5"}}})
    with pytest.raises(FencedOff, match="fenced off by another"):
        first.check_committed(conn.execute(*first.commit_statement({})).rowcount)
    # Another materialization's rows are untouched; a sibling range is not fenced.
    other = await fence("other", 0, 1000)
    assert other.fence == 0
    sibling = await fence("m", 500, 1000)
    assert sibling.fence == 2  # it overlaps the parent row [0, 1000], which was bumped twice
    child.check_committed(conn.execute(*child.commit_statement({"after": 1})).rowcount)
    rows = conn.execute(
        "SELECT materialization, key_begin, key_end, fence FROM cp ORDER BY 1, 2, 3"
    ).fetchall()
    assert rows == [("m", 0, 499, 1), ("m", 0, 1000, 2), ("m", 500, 1000, 2), ("other", 0, 1000, 0)]
