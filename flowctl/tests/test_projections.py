"""Projections with inference, as the build hands them to connectors (flow-protocol §4.1)."""

from __future__ import annotations

from typing import Any

import pytest
from flowctl.catalog import Collection
from flowctl.errors import CatalogError
from flowctl.projections import build_projections
from flowctl.shape import locate, shape_of

SCHEMA: dict[str, Any] = {
    "type": "object",
    "$defs": {"short": {"type": "string", "maxLength": 5}},
    "properties": {
        "id": {"type": "integer", "minimum": 1, "maximum": 99},
        "name": {"$ref": "#/$defs/short", "title": "Name", "description": "who"},
        "opt": {"type": ["string", "null"], "format": "date-time", "default": "2024-01-01T00:00:00Z"},
        "nested": {
            "type": "object",
            "properties": {"a": {"type": "boolean"}, "b/c": {"enum": [1, 2.5]}},
            "required": ["a"],
        },
        "maybe": {"type": ["object", "null"], "properties": {"q": {"type": "string"}}, "required": ["q"]},
        "never": False,
        "items": {"type": "array", "items": {"type": "object", "properties": {"x": {}}}},
        "_meta": {"type": "object", "properties": {"op": {"enum": ["c", "u", "d"]}}},
        "alt": {"anyOf": [{"type": "integer"}, {"type": "string", "contentEncoding": "base64"}]},
        "both": {"allOf": [{"type": ["integer", "string"]}, {"type": ["string", "null"]}]},
        "cond": {"if": {"type": "string"}, "then": {"type": "string"}, "else": {"const": 5}},
    },
    "required": ["id", "nested", "maybe", "_meta"],
}


def _by_field(**kw: Any) -> dict[str, dict[str, Any]]:
    collection = Collection(
        "acmeCo/things",
        ["/id"],
        kw.get("schema", SCHEMA),
        kw.get("read"),
        kw.get("projections", {}),
        "f.yaml",
        "/collections/acmeCo~1things",
    )
    built = build_projections(collection)
    assert [p["field"] for p in built] == sorted(p["field"] for p in built)
    return {p["field"]: p for p in built}


def test_canonical_projections_at_any_depth_with_inference() -> None:
    got = _by_field()
    assert set(got) == {
        "_meta", "_meta/flow_truncated", "_meta/op", "alt", "both", "cond", "flow_document",
        "flow_published_at", "id", "items", "maybe", "maybe/q", "name", "nested", "nested/a",
        "nested/b~1c", "never", "opt",
    }  # fmt: skip
    assert got["id"] == {
        "ptr": "/id",
        "field": "id",
        "isPrimaryKey": True,
        "inference": {
            "types": ["integer"],
            "exists": "MUST",
            "numeric": {"hasMinimum": True, "minimum": 1, "hasMaximum": True, "maximum": 99},
        },
    }
    name = got["name"]["inference"]
    assert name["types"] == ["string"] and name["string"] == {"maxLength": 5}
    assert (name["title"], name["description"], name["exists"]) == ("Name", "who", "MAY")
    opt = got["opt"]["inference"]
    assert opt["types"] == ["null", "string"] and opt["default"] == "2024-01-01T00:00:00Z"
    assert opt["string"] == {"format": "date-time"}
    assert got["nested/a"]["inference"]["exists"] == "MUST"  # required at every level
    assert got["nested/b~1c"]["inference"]["types"] == ["number"]
    assert got["maybe"]["inference"]["exists"] == "MUST"
    assert got["maybe/q"]["inference"]["exists"] == "MAY"  # its parent may be null
    assert got["never"]["inference"] == {"types": [], "exists": "CANNOT"}
    assert "items/x" not in got  # not into array items
    assert got["alt"]["inference"]["types"] == ["integer", "string"]
    assert got["alt"]["inference"]["string"] == {"contentEncoding": "base64"}
    assert got["both"]["inference"]["types"] == ["string"]
    assert got["cond"]["inference"]["types"] == ["integer", "string"]
    assert got["_meta/op"]["inference"]["types"] == ["string"]


def test_synthetic_projections() -> None:
    got = _by_field()
    assert got["flow_document"] == {
        "field": "flow_document",
        "inference": {"types": ["object"], "exists": "MUST"},
    }
    published = got["flow_published_at"]
    assert published["ptr"] == "/_meta/uuid"
    assert published["inference"]["string"] == {"format": "date-time", "contentEncoding": "uuid"}
    assert got["_meta/flow_truncated"]["inference"]["types"] == ["boolean"]


def test_user_projections_explicit_and_partition() -> None:
    got = _by_field(
        projections={
            "user_name": "/name",
            "part": {"location": "/opt", "partition": True},
            "the_id": "/id",
            "doc": "",
        }
    )
    assert got["user_name"]["explicit"] is True and got["user_name"]["ptr"] == "/name"
    assert got["part"]["isPartitionKey"] is True
    assert got["the_id"]["isPrimaryKey"] is True
    assert "flow_document" not in got and "ptr" not in got["doc"]  # the root has a user field


def test_a_user_projection_may_not_move_a_canonical_field() -> None:
    with pytest.raises(CatalogError, match="'name' is the canonical field of location '/name'"):
        _by_field(projections={"name": "/id"})


def test_read_schema_is_what_inference_describes() -> None:
    read = {
        "type": "object",
        "properties": {"id": {"type": "integer"}, "extra": {"type": "string"}},
        "required": ["id"],
    }
    got = _by_field(read=read)
    assert "extra" in got and "nested" not in got


def test_recursive_schemas_terminate() -> None:
    tree = {
        "$defs": {
            "node": {
                "type": "object",
                "properties": {"v": {"type": "integer"}, "child": {"$ref": "#/$defs/node"}},
            }
        },
        "$ref": "#/$defs/node",
        "required": ["v"],
    }
    got = _by_field(schema={**tree, "properties": {"id": {"type": "integer"}}})
    # the recursion stops at its first repetition: `child` may hold anything
    assert "child/v" not in got
    assert got["child"]["inference"]["types"] == ["array", "boolean", "null", "number", "object", "string"]
    assert got["v"]["inference"] == {"types": ["integer"], "exists": "MUST", "numeric": {}}


def test_locate_implicit_and_additional() -> None:
    shape = shape_of(
        {
            "type": "object",
            "additionalProperties": {"type": "string"},
            "properties": {"a": {"type": "object"}},
        }
    )
    assert locate(shape, "/anything")[1] == "MAY"
    assert locate(shape, "/anything")[0].type_names() == ["string"]
    assert locate(shape, "/a/b")[1] == "IMPLICIT"
