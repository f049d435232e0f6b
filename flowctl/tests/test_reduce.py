from __future__ import annotations

from typing import Any

import pytest
from flowctl.combine import Combiner
from flowctl.errors import DocumentValidationError, ReduceError
from flowctl.reduce import Reducer
from flowctl.schema import Validator

CDK_DELETION = {
    "type": "object",
    "properties": {"id": {"type": "integer"}},
    "required": ["id"],
    "x-infer-schema": True,
    "if": {
        "required": ["_meta"],
        "properties": {"_meta": {"required": ["op"], "properties": {"op": {"const": "d"}}}},
    },
    "then": {"reduce": {"strategy": "merge", "delete": True}},
    "else": {"reduce": {"strategy": "merge"}},
}


def reduce_all(schema: dict[str, Any], *docs: Any) -> Any:
    r = Reducer(schema)
    acc = docs[0]
    for d in docs[1:]:
        acc = r.reduce(acc, d)
    return acc


def test_default_is_last_write_wins() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    assert not Reducer(schema).annotated
    assert reduce_all(schema, {"a": 1, "b": 1}, {"a": 2}) == {"a": 2}


def test_merge_with_per_property_strategies() -> None:
    schema = {
        "type": "object",
        "reduce": {"strategy": "merge"},
        "properties": {
            "total": {"reduce": {"strategy": "sum"}},
            "first": {"reduce": {"strategy": "firstWriteWins"}},
            "log": {"reduce": {"strategy": "append"}},
            "low": {"reduce": {"strategy": "minimize"}},
            "high": {"reduce": {"strategy": "maximize"}},
            "nested": {"reduce": {"strategy": "merge"}},
            "plain": {"type": "object"},
        },
    }
    a = {
        "total": 1,
        "first": "a",
        "log": [1],
        "low": 5,
        "high": 5,
        "nested": {"x": 1, "y": 1},
        "plain": {"p": 1},
        "only_a": True,
    }
    b = {
        "total": 2.5,
        "first": "b",
        "log": [2, 3],
        "low": 3,
        "high": 3,
        "nested": {"y": 2, "z": 2},
        "plain": {"q": 2},
    }
    assert reduce_all(schema, a, b) == {
        "total": 3.5,
        "first": "a",
        "log": [1, 2, 3],
        "low": 3,
        "high": 5,
        "nested": {"x": 1, "y": 2, "z": 2},
        "plain": {"q": 2},
        "only_a": True,
    }


def test_merge_arrays_by_key_and_by_index() -> None:
    keyed = {"reduce": {"strategy": "merge", "key": ["/k"]}, "items": {"reduce": {"strategy": "merge"}}}
    lhs = [{"k": 1, "a": 1}, {"k": 3, "a": 3}]
    rhs = [{"k": 2, "a": 2}, {"k": 3, "b": 3}]
    assert reduce_all(keyed, lhs, rhs) == [{"k": 1, "a": 1}, {"k": 2, "a": 2}, {"k": 3, "a": 3, "b": 3}]
    by_index = {"reduce": {"strategy": "merge"}, "items": {"reduce": {"strategy": "sum"}}}
    assert reduce_all(by_index, [1, 2], [10, 20, 30]) == [11, 22, 30]


def test_cdk_deletion_pattern_with_conditionals() -> None:
    r = Reducer(CDK_DELETION)
    merged = r.reduce({"id": 1, "a": 1, "_meta": {"op": "c"}}, {"id": 1, "b": 2, "_meta": {"op": "u"}})
    assert merged == {"id": 1, "a": 1, "b": 2, "_meta": {"op": "u"}}
    deleted = r.reduce(merged, {"id": 1, "_meta": {"op": "d"}})
    assert deleted == {"id": 1, "a": 1, "b": 2, "_meta": {"op": "d"}}
    assert r.root_strategy(deleted).get("delete") is True
    # a document after a deletion starts over instead of merging into the deleted one
    assert r.reduce(deleted, {"id": 1, "c": 3, "_meta": {"op": "c"}}) == {
        "id": 1,
        "c": 3,
        "_meta": {"op": "c"},
    }


def test_set_strategy_add_remove_intersect() -> None:
    schema = {
        "reduce": {"strategy": "set"},
        "additionalProperties": {"type": "object", "additionalProperties": {"reduce": {"strategy": "sum"}}},
    }
    acc = reduce_all(schema, {"add": {"a": 1, "b": 1}}, {"add": {"b": 1, "c": 1}})
    assert acc == {"add": {"a": 1, "b": 2, "c": 1}}  # members present on both sides reduce (sum)
    acc = reduce_all(schema, acc, {"remove": {"a": 0}})
    assert acc["add"] == {"b": 2, "c": 1} and acc["remove"] == {"a": 0}
    acc = reduce_all(schema, acc, {"intersect": {"c": 0}})
    assert acc["add"] == {"c": 1} and "remove" not in acc and acc["intersect"] == {"c": 0}


def test_refs_and_allof_carry_annotations() -> None:
    schema = {
        "$defs": {"counter": {"type": "integer", "reduce": {"strategy": "sum"}}},
        "allOf": [{"reduce": {"strategy": "merge"}}],
        "properties": {"c": {"$ref": "#/$defs/counter"}},
    }
    assert reduce_all(schema, {"c": 1}, {"c": 2}, {"c": 3}) == {"c": 6}


def test_wrong_types_are_reduce_errors() -> None:
    with pytest.raises(ReduceError, match="sum strategy expects numbers"):
        reduce_all({"reduce": {"strategy": "sum"}}, 1, "x")
    with pytest.raises(ReduceError, match="merge strategy expects two objects"):
        reduce_all({"reduce": {"strategy": "merge"}}, {"a": 1}, [1])


def test_combiner_orders_by_key_and_validates() -> None:
    schema = {
        "type": "object",
        "properties": {"id": {"type": "integer"}, "v": {"type": "integer"}},
        "required": ["id"],
    }
    comb = Combiner("acmeCo/x", ["/id"], Reducer(schema), Validator(schema))
    comb.add_all([{"id": 3, "v": 1}, {"id": 1, "v": 1}, {"id": 3, "v": 2}])
    assert list(comb.drain()) == [{"id": 1, "v": 1}, {"id": 3, "v": 2}]
    comb.add_all([{"id": 7, "v": "bad"}])
    with pytest.raises(DocumentValidationError) as err:
        list(comb.drain())
    assert err.value.collection == "acmeCo/x" and err.value.key == [7]
    assert err.value.location == "/v" and err.value.schema_path == "/properties/v/type"
    assert "acmeCo/x" in str(err.value) and "[7]" in str(err.value)


def test_combiner_composite_and_mixed_keys() -> None:
    schema = {"type": "object"}
    comb = Combiner("c/x", ["/a", "/b/c"], Reducer(schema), Validator(schema))
    comb.add_all(
        [
            {"a": "x", "b": {"c": 2}},
            {"a": "x", "b": {"c": 1}},
            {"a": None, "b": {"c": 1}},
            {"a": [1], "b": {"c": 0}},
        ]
    )
    assert [(d["a"], d["b"]["c"]) for d in comb.drain()] == [(None, 1), ("x", 1), ("x", 2), ([1], 0)]


def test_combiner_reduces_with_annotations() -> None:
    schema = {
        "type": "object",
        "reduce": {"strategy": "merge"},
        "properties": {"n": {"reduce": {"strategy": "sum"}}},
    }
    comb = Combiner("c/x", ["/id"], Reducer(schema), Validator(schema))
    comb.add_all([{"id": 1, "n": 1}, {"id": 2, "n": 5}, {"id": 1, "n": 2}])
    later = Combiner("c/x", ["/id"], Reducer(schema), Validator(schema))
    later.add_all([{"id": 1, "n": 10, "x": True}])
    comb.absorb(later)
    assert list(comb.drain()) == [{"id": 1, "n": 13, "x": True}, {"id": 2, "n": 5}]


def test_formats_are_asserted_like_flow() -> None:
    v = Validator({"type": "object", "properties": {"t": {"type": "string", "format": "date-time"}}})
    assert v.is_valid({"t": "2024-01-01T00:00:00Z"})
    assert v.first_error({"t": "2024-01-01 00:00"}) is not None


def test_shallow_merge_fast_path_agrees_with_general_path() -> None:
    fast = Reducer(CDK_DELETION)
    general = Reducer(CDK_DELETION)
    assert fast._shallow is not None
    general._shallow = None  # force the annotation walk
    docs = [
        {"id": 1, "a": 1, "_meta": {"op": "c"}},
        {"id": 1, "b": {"x": 1}, "_meta": {"op": "u"}},
        {"id": 1, "b": {"y": 2}},
        {"id": 1, "_meta": {"op": "d"}},
        {"id": 1, "c": 3, "_meta": {"op": "c"}},
    ]
    acc_fast, acc_general = docs[0], docs[0]
    for doc in docs[1:]:
        acc_fast, acc_general = fast.reduce(acc_fast, doc), general.reduce(acc_general, doc)
        assert acc_fast == acc_general
    assert acc_fast == {"id": 1, "c": 3, "_meta": {"op": "c"}}
    # an annotation below the root disables the fast path
    nested = {**CDK_DELETION, "properties": {"n": {"reduce": {"strategy": "sum"}}}}
    assert Reducer(nested)._shallow is None
    assert Reducer(nested).reduce({"n": 1}, {"n": 2}) == {"n": 3}
