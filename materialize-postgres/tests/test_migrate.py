"""Type migrations: a collection whose schema widens is applied by altering the existing table in
place (new nullable columns, NOT NULL dropped, types widened with ALTER COLUMN ... TYPE ...
USING, in Apply's one transaction), and the rows already there keep their values."""

from __future__ import annotations

from typing import Any

from conftest import Workspace

WIDENED = {
    "intToNumber": {"type": "number"},
    "intToString": {"type": "string"},
    "intToMultiple": {"type": ["integer", "string", "object"]},
    "numberToString": {"type": "string"},
    "datetimeToString": {"type": "string"},
    "added": {"type": "boolean"},
}


def _widen(collections: dict[str, Any]) -> None:
    schema = collections["tests/migrating"]["schema"]
    schema["properties"].update(WIDENED)
    schema["required"] = ["id"]


def test_a_widened_schema_migrates_the_table_and_keeps_its_rows(ws: Workspace, snapshot: Any) -> None:
    migrate = ws.using("migrate.flow.yaml", "tests/migrate")
    base = migrate.preview("fixture.migrate-base.json", "--output-apply")
    before = migrate.dump()
    migrate.edit_collections(_widen, "migrate.flow.yaml")
    widened = migrate.preview("fixture.migrate-widened.json", "--output-apply")
    after = migrate.dump()
    assert snapshot("migrate.txt") == "\n".join(
        ["Base:", base.stdout, before, "Widened:", widened.stdout, after]
    )

    rows = {r[0]: r[1:] for r in migrate.sql(
        'SELECT id, "intToNumber", "intToString", "intToMultiple"::text, "numberToString", '
        '"datetimeToString", "requiredToOptional", added FROM migrating'
    )}  # fmt: skip
    # Rows of the base run, converted in place.
    assert rows[1] == (1.0, "2", "3", "1.5", "2024-08-06T21:46:55.500000Z", "present", None)
    assert rows[2] == (None, None, None, None, None, "only required", None)
    # Rows of the widened run, stored with the new types.
    assert rows[3] == (3.25, "three", '{"three":3}', "x", "not a date", None, True)
    assert rows[4] == (None, None, None, None, None, None, None)

    # Applying the widened schema again has nothing left to do.
    again = migrate.preview("fixture.migrate-widened.json", "--output-apply")
    assert again.stdout == '["applied.actionDescription", ""]\n'
