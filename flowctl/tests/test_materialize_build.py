"""Materializations in the catalog and their build: Validate, field selection, the
MaterializationSpec, and `flowctl raw spec|validate|apply --materialization`."""

from __future__ import annotations

from typing import Any

import yaml

from .conftest import MakeCatalog, MakeMatCatalog
from .conftest import run_in_process as run_flowctl

NAME = "acmeCo/to-fake"


def _apply(cat: Any, *extra: str) -> tuple[Any, dict[str, Any]]:
    res = run_flowctl("raw", "apply", "--source", str(cat.path), *extra)
    assert res.code == 0, res.stderr
    (applied,) = cat.requests("apply")
    return res, applied["apply"]


def test_raw_spec_of_a_materialization(make_mat_catalog: MakeMatCatalog) -> None:
    cat = make_mat_catalog()
    res = run_flowctl("raw", "spec", "--source", str(cat.path), "--materialization", NAME)
    assert res.code == 0, res.stderr
    (spec,) = res.lines()
    assert spec["protocol"] == 3032023 and spec["resourceConfigSchema"]["required"] == ["table"]
    assert cat.requests("spec")[0]["spec"]["connectorType"] == "LOCAL"


def test_validate_request_and_response(make_mat_catalog: MakeMatCatalog) -> None:
    cat = make_mat_catalog(
        bindings=[
            {
                "resource": {"table": "users"},
                "source": "acmeCo/users",
                "fields": {"require": {"name": {"len": 9}}},
            },
            {"resource": {"table": "ev"}, "source": {"name": "acmeCo/events"}, "backfill": 2},
            {"resource": {"table": "off"}, "source": "acmeCo/events", "disable": True},
        ]
    )
    res = run_flowctl("raw", "validate", "--source", str(cat.path))  # the only task
    assert res.code == 0, res.stderr
    (validated,) = res.lines()
    assert [b["resourcePath"] for b in validated["validated"]["bindings"]] == [["users"], ["ev"]]
    (request,) = cat.requests("validate")
    body = request["validate"]
    assert body["name"] == NAME and body["connectorType"] == "LOCAL"
    first, second = body["bindings"]
    assert first["resourceConfig"] == {"table": "users"} and first["groupBy"] == ["id"]
    assert first["fieldConfig"] == {"name": {"len": 9}} and "backfill" not in first
    assert second["backfill"] == 2 and "fieldConfig" not in second
    fields = {p["field"]: p for p in first["collection"]["projections"]}
    assert fields["nested/deep"]["inference"]["types"] == ["boolean"]
    assert fields["id"]["isPrimaryKey"] is True
    assert fields["n"]["inference"]["default"] == 0


def test_apply_carries_the_materialization_spec(make_mat_catalog: MakeMatCatalog) -> None:
    cat = make_mat_catalog(
        bindings=[
            {"resource": {"table": "users"}, "source": "acmeCo/users", "priority": 3},
            {"resource": {"table": "my events"}, "source": "acmeCo/events", "backfill": 1},
        ]
    )
    res, apply = _apply(cat, "--materialization", NAME)
    assert res.lines() == [{"applied": {"actionDescription": apply_description(apply)}}]
    spec = apply["materialization"]
    assert apply["version"] and spec["name"] == NAME and spec["connectorType"] == "LOCAL"
    users, events = spec["bindings"]
    assert users["fieldSelection"] == {
        "keys": ["id"],
        "values": ["_meta/op", "flow_published_at", "n", "name", "nested/deep", "tags"],
        "document": "flow_document",
    }
    assert users["resourcePath"] == ["users"] and users["stateKey"] == "users" and users["priority"] == 3
    assert users["journalReadSuffix"] == f"materialize/{NAME}/users"
    assert events["stateKey"] == "my%20events.v1" and events["backfill"] == 1
    assert events["journalReadSuffix"] == f"materialize/{NAME}/my%20events.v1"
    labels = {label["name"]: label["value"] for label in users["partitionSelector"]["include"]["labels"]}
    assert labels["estuary.dev/collection"] == "acmeCo/users"
    shard = {label["name"]: label["value"] for label in spec["shardTemplate"]["labels"]["labels"]}
    assert shard["estuary.dev/task-type"] == "materialization" and shard["estuary.dev/task-name"] == NAME
    assert spec["recoveryLogTemplate"]["name"].startswith(f"recovery/materialize/{NAME}/")


def apply_description(apply: dict[str, Any]) -> str:
    out = []
    for b in apply["materialization"]["bindings"]:
        sel = b["fieldSelection"]
        out.append(
            f"CREATE TABLE {b['resourcePath'][0]} ({', '.join(sel['keys'] + sel.get('values', []) + [sel['document']])})"
        )
    return "\n".join(out)


def test_recommended_false_and_exclude(make_mat_catalog: MakeMatCatalog) -> None:
    cat = make_mat_catalog(
        bindings=[
            {
                "resource": {"table": "a"},
                "source": "acmeCo/users",
                "fields": {"recommended": False, "require": {"n": {}}},
            },
            {
                "resource": {"table": "b"},
                "source": "acmeCo/events",
                "fields": {"exclude": ["tags", "flow_published_at"]},
            },
            {
                "resource": {"table": "c"},
                "source": "acmeCo/events",
                "fields": {"recommended": 1, "groupBy": ["name"]},
            },
        ]
    )
    _, apply = _apply(cat)
    a, b, c = (x["fieldSelection"] for x in apply["materialization"]["bindings"])
    assert a == {"keys": ["id"], "values": ["n"], "document": "flow_document", "fieldConfig": {"n": {}}}
    assert b["values"] == ["_meta/op", "n", "name", "nested/deep"]
    # depth 1: top-level fields (`nested` itself, not `nested/deep`); the group-by key is the
    # user's, and `id` (its location required by the connector) is a value
    assert c["keys"] == ["name"]
    assert c["values"] == ["_meta/op", "flow_published_at", "id", "n", "nested", "tags"]


def test_delta_updates_and_ser_policy_and_list_form(make_mat_catalog: MakeMatCatalog) -> None:
    cat = make_mat_catalog(
        config={"list_form": True, "ser_policy": {"strTruncateAfter": 10}},
        bindings=[{"resource": {"table": "d", "delta_updates": True}, "source": "acmeCo/users"}],
    )
    _, apply = _apply(cat)
    (binding,) = apply["materialization"]["bindings"]
    assert binding["deltaUpdates"] is True and binding["serPolicy"] == {"strTruncateAfter": 10}
    # delta updates: the connector only recommends the document, and the root is not selected
    # for depth (it has children), so there is none
    assert "document" not in binding["fieldSelection"] and binding["fieldSelection"]["keys"] == ["id"]


def _fails(cat: Any, *parts: str) -> str:
    res = run_flowctl("raw", "apply", "--source", str(cat.path))
    assert res.code == 1, res.stdout
    for part in parts:
        assert part in res.stderr, res.stderr
    assert cat.requests("apply") == []
    return res.stderr


def test_a_required_field_the_connector_forbids(make_mat_catalog: MakeMatCatalog) -> None:
    cat = make_mat_catalog(
        config={"forbid": ["name"]},
        bindings=[
            {"resource": {"table": "users"}, "source": "acmeCo/users", "fields": {"require": {"name": {}}}}
        ],
    )
    _fails(
        cat,
        f'materialization {NAME} binding 0 (collection acmeCo/users, resource path ["users"]) cannot select its fields',
        "field 'name': the field is required by the binding's `fields.require` but the connector forbids it "
        "(the fake endpoint cannot store it)",
    )


def test_a_group_by_key_the_connector_forbids(make_mat_catalog: MakeMatCatalog) -> None:
    cat = make_mat_catalog(config={"forbid": ["id"]})
    _fails(cat, "field 'id': the field is part of the group-by key but the connector forbids it")


def test_a_field_the_connector_omits_is_not_selected(make_mat_catalog: MakeMatCatalog) -> None:
    _, apply = _apply(make_mat_catalog(config={"omit": ["name"], "optional_only": ["_meta/op"]}))
    assert "name" not in apply["materialization"]["bindings"][0]["fieldSelection"]["values"]
    assert "_meta/op" in apply["materialization"]["bindings"][0]["fieldSelection"]["values"]  # core metadata


def test_a_required_field_that_does_not_exist(make_mat_catalog: MakeMatCatalog) -> None:
    cat = make_mat_catalog(
        bindings=[
            {"resource": {"table": "users"}, "source": "acmeCo/users", "fields": {"require": {"nope": {}}}}
        ]
    )
    stderr = _fails(cat, f"{cat.path}#/materializations/acmeCo~1to-fake/bindings/0/fields/require/nope")
    assert "field 'nope' in `fields.require` is not a projection of collection 'acmeCo/users'" in stderr
    assert cat.requests("validate") == []  # the connector never saw it


def test_catalog_errors_of_materializations(make_mat_catalog: MakeMatCatalog) -> None:
    def check(binding: dict[str, Any], location: str, text: str) -> None:
        cat = make_mat_catalog(bindings=[binding])
        res = run_flowctl("raw", "bundle", "--source", str(cat.path))
        assert res.code == 1
        assert f"{cat.path}#/materializations/acmeCo~1to-fake/bindings/0{location}" in res.stderr, res.stderr
        assert text in res.stderr, res.stderr

    check({"resource": {"table": "x"}, "target": "acmeCo/users"}, "/source", "`target` is for captures")
    check({"resource": {"table": "x"}, "source": "acmeCo/nope"}, "/source", "'acmeCo/nope' is not defined")
    check({"resource": [], "source": "acmeCo/users"}, "/resource", "must be an object")
    check(
        {"resource": {}, "source": "acmeCo/users", "fields": {"require": {"a": {}}, "include": {}}},
        "/fields",
        "`include` is another name for `require`",
    )
    check(
        {"resource": {}, "source": "acmeCo/users", "fields": {"recommended": "yes"}},
        "/fields/recommended",
        "depth",
    )
    check({"resource": {}, "source": "acmeCo/users", "backfil": 1}, "/backfil", "unknown key 'backfil'")
    check(
        {"resource": {}, "source": {"name": "acmeCo/users", "partitions": []}},
        "/source/partitions",
        "include",
    )


def test_resource_config_is_checked_against_the_connector_schema(make_mat_catalog: MakeMatCatalog) -> None:
    cat = make_mat_catalog(bindings=[{"resource": {"tabel": "x"}, "source": "acmeCo/users"}])
    stderr = _fails(cat, f"{cat.path}#/materializations/acmeCo~1to-fake/bindings/0/resource")
    assert '"table" is a required property' in stderr
    assert cat.requests("validate") == []


def test_connector_protocol_errors_at_validate(make_mat_catalog: MakeMatCatalog) -> None:
    cat = make_mat_catalog(
        config={"mode": "dup_paths"},
        bindings=[
            {"resource": {"table": "a"}, "source": "acmeCo/users"},
            {"resource": {"table": "b"}, "source": "acmeCo/events"},
        ],
    )
    _fails(cat, 'have the same resource path ["same"]')
    _fails(
        make_mat_catalog(config={"mode": "empty_path"}),
        "connector returned an empty or invalid resource path []",
    )


def test_task_selection_between_captures_and_materializations(
    make_mat_catalog: MakeMatCatalog, make_catalog: MakeCatalog
) -> None:
    cap = make_catalog()
    mat = make_mat_catalog()
    doc = yaml.safe_load(mat.path.read_text())
    doc["import"].append(str(cap.path))
    mat.path.write_text(yaml.safe_dump(doc))
    # both catalogs import the same acmeCo/flow.yaml (loaded once)
    res = run_flowctl("raw", "validate", "--source", str(mat.path))
    assert res.code == 2 and "several tasks (acmeCo/source-fake, acmeCo/to-fake)" in res.stderr
    assert (
        run_flowctl("raw", "validate", "--source", str(mat.path), "--capture", "acmeCo/source-fake").code == 0
    )
    res = run_flowctl("raw", "validate", "--source", str(mat.path), "--materialization", NAME)
    assert res.code == 0, res.stderr
    res = run_flowctl("raw", "validate", "--source", str(mat.path), "--materialization", "acmeCo/source-fake")
    assert res.code == 2 and "(it is a capture)" in res.stderr
