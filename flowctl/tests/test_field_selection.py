"""Field selection as the control plane computes it (flow-protocol §3.6)."""

from __future__ import annotations

from typing import Any

import pytest
from flowctl.field_selection import Constraint, Reject, Select, parse_constraints, select_fields


def _p(field: str, ptr: str | None = None, types: list[str] | None = None, **kw: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"field": field, "inference": {"types": types or ["string"]}, **kw}
    if ptr is None:
        ptr = "/" + field
    if ptr:
        out["ptr"] = ptr
    return out


PROJECTIONS = [
    _p("flow_document", "", ["object"]),
    _p("id", types=["integer"], isPrimaryKey=True),
    _p("a"),
    _p("obj", types=["object"]),
    _p("obj/x"),
    _p("alias_of_a", "/a", explicit=True),
    _p("flow_published_at", "/_meta/uuid"),
    _p("_meta/op"),
    _p("_meta/flow_truncated", types=["boolean"]),
]


def _constraints(**kinds: str) -> list[tuple[str, Constraint]]:
    base = {p["field"]: "FIELD_OPTIONAL" for p in PROJECTIONS}
    base.update(flow_document="LOCATION_REQUIRED", id="LOCATION_REQUIRED")
    base.update(kinds)
    return [(f, Constraint(k, f"reason for {f}")) for f, k in sorted(base.items())]


def test_any_depth_selects_scalars_explicit_projections_and_core_metadata() -> None:
    sel = select_fields(PROJECTIONS, ["id"], None, {}, [], _constraints())
    assert sel.keys == ["id"] and sel.document == "flow_document"
    # `obj` is covered by nothing but is an object with children: its child is selected instead;
    # `alias_of_a` (user-defined) claims /a before the canonical `a`
    assert sel.values == ["_meta/op", "alias_of_a", "flow_published_at", "obj/x"]
    assert sel.conflicts == []


def test_depth_zero_selects_only_what_is_required() -> None:
    sel = select_fields(PROJECTIONS, ["id"], 0, {"a": {"x": 1}}, [], _constraints())
    assert (sel.values, sel.document, sel.field_config) == (["a"], "flow_document", {"a": {"x": 1}})


def test_required_location_is_satisfied_once() -> None:
    sel = select_fields(
        PROJECTIONS, ["id"], 0, {}, [], _constraints(a="LOCATION_REQUIRED", alias_of_a="LOCATION_REQUIRED")
    )
    assert sel.values == ["a"]


def test_incompatible_with_a_live_selection_needs_a_backfill() -> None:
    live = {"keys": ["id"], "values": ["a"], "document": "flow_document"}
    sel = select_fields(PROJECTIONS, ["id"], None, {}, [], _constraints(a="INCOMPATIBLE"), live=live)
    (conflict,) = sel.conflicts
    assert conflict.field == "a" and conflict.needs_backfill
    assert (
        conflict.select.kind == Select.CURRENT_VALUE and conflict.reject.kind == Reject.CONNECTOR_INCOMPATIBLE
    )
    assert "without a backfill (reason for a)" in str(conflict)
    # an optional incompatible field without a live selection is simply not selected
    sel = select_fields(PROJECTIONS, ["id"], 0, {}, [], _constraints(a="INCOMPATIBLE"))
    assert sel.conflicts == [] and "a" not in sel.values


def test_user_excludes_win_over_recommendations_but_not_over_connector_requirements() -> None:
    sel = select_fields(PROJECTIONS, ["id"], None, {}, ["alias_of_a", "flow_published_at"], _constraints())
    assert sel.values == ["_meta/op", "a", "obj/x"]
    sel = select_fields(PROJECTIONS, ["id"], None, {}, ["a"], _constraints(a="FIELD_REQUIRED"))
    assert [str(c) for c in sel.conflicts] == [
        "field 'a': the connector requires the field (reason for a) but the field is excluded by `fields.exclude`"
    ]


def test_case_insensitive_folds() -> None:
    projections = [*PROJECTIONS, _p("A", "/A")]
    kinds = _constraints()
    kinds.append(("A", Constraint("FIELD_OPTIONAL")))
    sel = select_fields(projections, ["id"], None, {}, [], kinds, case_insensitive=True)
    assert "A" in sel.values and "a" not in sel.values  # `a`'s location went to its alias: no collision
    sel = select_fields(projections, ["id"], 0, {"A": {}, "a": {}}, [], kinds, case_insensitive=True)
    assert len(sel.conflicts) == 1 and "would name it like another selected field" in str(sel.conflicts[0])
    sel = select_fields(projections, ["id"], 0, {"A": {}, "a": {}}, [], kinds, case_insensitive=False)
    assert sel.conflicts == [] and sel.values == ["A", "a"]


def test_unknown_fields_from_the_connector() -> None:
    sel = select_fields(
        PROJECTIONS, ["id"], 0, {}, [], [*_constraints(), ("ghost", Constraint("FIELD_REQUIRED"))]
    )
    assert [str(c) for c in sel.conflicts] == [
        "field 'ghost': the connector requires the field but the field does not exist in the source collection"
    ]


def test_constraint_parsing_both_forms() -> None:
    mapped = parse_constraints(
        {"constraints": {"a": {"type": "FIELD_REQUIRED", "reason": "r"}, "b": {"type": 5}}}
    )
    assert [(f, c.type, c.reason) for f, c in mapped] == [
        ("a", "FIELD_REQUIRED", "r"),
        ("b", "FIELD_FORBIDDEN", ""),
    ]
    listed = parse_constraints(
        {
            "projectionConstraints": [
                {"field": "a", "constraint": {"type": "LOCATION_REQUIRED", "foldedField": "A_"}},
                {"field": "a", "constraint": {"type": "INCOMPATIBLE"}},
            ],
            "constraints": {"ignored": {"type": "FIELD_REQUIRED"}},
        }
    )
    assert [(f, c.type, c.folded_field) for f, c in listed] == [
        ("a", "LOCATION_REQUIRED", "A_"),
        ("a", "INCOMPATIBLE", ""),
    ]
    with pytest.raises(ValueError, match="unknown constraint type 'SOMETIMES' for field 'a'"):
        parse_constraints({"constraints": {"a": {"type": "SOMETIMES"}}})


# The control plane's own field-selection scenario (a standard materialization with a live
# selection, user projections, a required object, an exclude, folded names and forbidden
# fields), rebuilt here from its description to check that the same selection comes out.
_TABLE: dict[str, Any] = {
    "type": "object",
    "$anchor": "MyTable",
    "required": ["an_int"],
    "properties": {
        "an_int": {"type": "integer"},
        "a_num1": {"type": ["number", "string"], "format": "number"},
        "a_num2": {"type": "number"},
        "a_bool": {"type": ["boolean"]},
        "a_date_time": {"type": "string", "format": "date-time"},
        "an_array": {"type": "array", "items": {"type": "number"}},
        "an_array_redux": {"type": "array", "items": {"type": "number"}},
        "a_map": {"type": "object", "additionalProperties": {"type": "string"}},
        "an_extra": {"const": "extra"},
        "forbid": {"const": "forbidden"},
        "nested": {
            "type": "object",
            "properties": {"foo": {"const": 42}, "bar": {"type": "string"}, "baz": {"type": "boolean"}},
            "required": ["foo"],
        },
    },
}
_SOURCE = {
    "type": "object",
    "required": ["schema", "table", "loc"],
    "properties": {
        "ts_ms": {"type": "integer"},
        "schema": {"type": "string"},
        "snapshot": {"type": "boolean"},
        "table": {"type": "string"},
        "loc": {"type": "array", "items": {"type": "integer"}},
        "txid": {"type": "integer"},
    },
}
_SCENARIO_SCHEMA: dict[str, Any] = {
    "$defs": {"MyTable": _TABLE},
    "allOf": [
        {
            "required": ["_meta"],
            "properties": {
                "_meta": {
                    "type": "object",
                    "required": ["op", "source"],
                    "properties": {
                        "before": {"$ref": "#MyTable"},
                        "op": {"enum": ["c", "d", "u"]},
                        "source": _SOURCE,
                    },
                }
            },
        },
        {"$ref": "#MyTable"},
    ],
}


_USER_PROJECTIONS = {
    "AnInt": "/an_int",
    "ANumberOne": "/a_num1",
    "ABool": "/a_bool",
    "ADateTime": "/a_date_time",
    "AnArray": "/an_array",
    "AMap": "/a_map",
    "NestedFoo": "/nested/foo",
}


def _scenario(
    user_projections: dict[str, str], document: str
) -> tuple[list[dict[str, Any]], list[tuple[str, Constraint]]]:
    from flowctl.catalog import Collection
    from flowctl.projections import build_projections

    collection = Collection(
        "test/collection", ["/an_int", "/a_bool"], _SCENARIO_SCHEMA, None, user_projections, "f.yaml", "/c"
    )
    projections = build_projections(collection)
    fields = [p["field"] for p in projections]
    assert "_meta/before/nested/foo" in fields and "_meta/source/txid" in fields  # through `$anchor`
    folded = {"ANumberOne", "a_num1", "a_num2"}
    forbidden = {"_meta/before/forbid": "naughty", "forbid": "frosts the jib"}
    kinds = {f: "FIELD_OPTIONAL" for f in [*fields, *_USER_PROJECTIONS]}
    kinds.update({f: "FIELD_FORBIDDEN" for f in forbidden}, flow_document=document)
    constraints = [
        (f, Constraint(k, forbidden.get(f, ""), "NUM" if f in folded else ""))
        for f, k in sorted(kinds.items())
    ]
    return projections, constraints


def test_the_control_plane_scenario_with_a_live_selection() -> None:
    projections, constraints = _scenario(_USER_PROJECTIONS, "LOCATION_REQUIRED")
    live = {
        "document": "flow_document",
        "keys": ["an_int", "a_bool"],
        "values": [
            "a_bool", "a_date_time", "a_map", "a_num1", "a_num2", "an_array", "flow_published_at",
            "nested/bar", "not-in-collection",
        ],
    }  # fmt: skip
    sel = select_fields(
        projections, ["an_int", "a_bool"], 100, {"nested": {"cfg": 42}}, ["an_extra"], constraints, live=live
    )
    assert sel.conflicts == []
    assert sel.keys == ["an_int", "a_bool"] and sel.document == "flow_document"
    assert sel.values == [
        "ABool", "ADateTime", "AMap", "AnArray", "AnInt", "NestedFoo", "_meta/op", "a_date_time", "a_map",
        "a_num1", "an_array", "an_array_redux", "flow_published_at", "nested", "nested/bar",
    ]  # fmt: skip
    assert sel.field_config == {"nested": {"cfg": 42}}


def test_the_control_plane_scenario_at_depth_2_with_another_group_by() -> None:
    projections, constraints = _scenario({}, "FIELD_OPTIONAL")
    sel = select_fields(
        projections, ["nested/baz", "a_bool"], 2, {"nested": {"cfg": 42}}, ["an_extra"], constraints
    )
    assert sel.conflicts == [] and sel.document == ""
    assert sel.keys == ["nested/baz", "a_bool"]
    assert sel.values == [
        "_meta/op", "a_date_time", "a_map", "a_num1", "an_array", "an_array_redux", "an_int",
        "flow_published_at", "nested",
    ]  # fmt: skip
