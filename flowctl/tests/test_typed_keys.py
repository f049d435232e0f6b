"""Collection keys keep their JSON type when documents are combined: `true` is not `1`, `false`
is not `0`, `"1"` is not `1` (Python's `==`/`hash` say otherwise for the booleans), while `1`
and `1.0` are the same key, as in Flow. Drained in Flow's order of types: null < booleans <
numbers < strings < arrays < objects."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from flowctl.combine import Combiner
from flowctl.errors import DocumentValidationError
from flowctl.json_order import sort_key, typed_key, typed_sort_key, untyped
from flowctl.reduce import Reducer
from flowctl.schema import Validator

from .conftest import MakeCatalog, run_combine, run_flowctl

ANY: dict[str, Any] = {"type": "object"}
SUM: dict[str, Any] = {
    "type": "object",
    "reduce": {"strategy": "merge"},
    "properties": {"n": {"reduce": {"strategy": "sum"}}},
}


def combined(docs: list[dict[str, Any]], schema: dict[str, Any] = SUM, key: list[str] | None = None) -> Any:
    comb = Combiner("acmeCo/x", key or ["/k"], Reducer(schema), Validator(schema))
    comb.add_all(docs)
    return list(comb.drain())


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (True, 1),
        (False, 0),
        ("1", 1),
        ("true", True),
        (None, False),
        ([True], [1]),
        ([False, 1], [0, 1]),
        ({"a": True}, {"a": 1}),
        ({"a": [False]}, {"a": [0]}),
        ([[True]], [[1]]),
        ({"a": 1}, [["a", 1]]),
    ],
)
@pytest.mark.parametrize("schema", [ANY, SUM], ids=["last-write-wins", "reduced"])
def test_keys_of_different_types_stay_apart(a: Any, b: Any, schema: dict[str, Any]) -> None:
    docs = combined([{"k": a, "n": 1}, {"k": b, "n": 2}, {"k": a, "n": 4}], schema)
    assert len(docs) == 2
    by_key = {json.dumps(d["k"]): d["n"] for d in docs}
    last_or_sum = 4 if schema is ANY else 5
    assert by_key == {json.dumps(a): last_or_sum, json.dumps(b): 2}


@pytest.mark.parametrize(
    ("a", "b"),
    [(1, 1.0), (0, -0.0), ([1, {"x": 2}], [1.0, {"x": 2.0}]), ({"a": 1, "b": [0]}, {"b": [0.0], "a": 1.0})],
)
def test_integer_and_float_of_equal_value_are_one_key(a: Any, b: Any) -> None:
    docs = combined([{"k": a, "n": 1}, {"k": b, "n": 2}])
    assert [d["n"] for d in docs] == [3]


def test_drain_orders_types_like_flow() -> None:
    keys: list[Any] = [
        {"a": 1},
        [True],
        "1",
        1.5,
        True,
        None,
        [1],
        {"a": True},
        0,
        False,
        "",
        [],
        {},
        [0, "x"],
    ]
    docs = combined([{"k": k} for k in keys], ANY)
    assert [d["k"] for d in docs] == [
        None,
        False,
        True,
        0,
        1.5,
        "",
        "1",
        [],
        [True],
        [0, "x"],
        [1],
        {},
        {"a": True},
        {"a": 1},
    ]


def test_only_booleans_sort_false_first_and_before_numbers() -> None:
    assert [d["k"] for d in combined([{"k": True}, {"k": False}], ANY)] == [False, True]
    # Python alone would put 0 before True (0 < 1); Flow puts every boolean before any number.
    assert [d["k"] for d in combined([{"k": 0}, {"k": True}, {"k": 2}], ANY)] == [True, 0, 2]


def test_composite_and_nested_keys_keep_types() -> None:
    docs = combined(
        [
            {"a": 1, "b": {"c": True}, "n": 1},
            {"a": True, "b": {"c": 1}, "n": 2},
            {"a": 1.0, "b": {"c": True}, "n": 4},
            {"a": True, "b": {"c": True}, "n": 8},
        ],
        key=["/a", "/b/c"],
    )
    assert [(d["a"], d["b"]["c"], d["n"]) for d in docs] == [(True, True, 8), (True, 1, 2), (1.0, True, 5)]


def test_absorb_keeps_types_apart() -> None:
    first = Combiner("acmeCo/x", ["/k"], Reducer(SUM), Validator(SUM))
    later = Combiner("acmeCo/x", ["/k"], Reducer(SUM), Validator(SUM))
    first.add_all([{"k": 1, "n": 1}])
    later.add_all([{"k": True, "n": 2}, {"k": 1.0, "n": 4}])
    first.absorb(later)
    assert [(d["k"], d["n"]) for d in first.drain()] == [(True, 2), (1.0, 5)]


def test_validation_errors_report_the_key_with_its_type() -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}}
    comb = Combiner("acmeCo/x", ["/k", "/j"], Reducer(schema), Validator(schema))
    comb.add_all([{"k": True, "j": [False, {"z": 0}], "n": "x"}])
    with pytest.raises(DocumentValidationError) as err:
        list(comb.drain())
    assert err.value.key == [True, [False, {"z": 0}]]
    assert "[true,[false,{" in str(err.value)


@pytest.mark.parametrize(
    "value", [None, True, False, 0, 1.5, "s", [], [True, [1, None]], {"a": {"b": [False]}, "c": 1}]
)
def test_typed_keys_round_trip_and_order_like_sort_key(value: Any) -> None:
    assert untyped(typed_key(value)) == value
    assert typed_sort_key(typed_key(value)) == sort_key(value)
    hash(typed_key(value))


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [("minimize", True), ("maximize", 1)],
)
def test_minimize_and_maximize_compare_types_like_flow(strategy: str, expected: Any) -> None:
    # booleans order before numbers, so true < 1: neither is "equal" to the other
    reducer = Reducer({"reduce": {"strategy": strategy}})
    for lhs, rhs in ((1, True), (True, 1)):
        result = reducer.reduce(lhs, rhs)
        assert result == expected and type(result) is type(expected)


def test_set_and_keyed_merge_keep_true_and_one_apart() -> None:
    keyed = Reducer({"reduce": {"strategy": "merge", "key": ["/id"]}})
    merged = keyed.reduce(
        [{"id": False, "v": 1}, {"id": 1, "v": 1}], [{"id": True, "v": 2}, {"id": 0, "v": 2}]
    )
    assert [(m["id"], m["v"]) for m in merged] == [(False, 1), (True, 2), (0, 2), (1, 1)]
    sets = Reducer({"reduce": {"strategy": "set"}})
    out = sets.reduce({"add": [1, "1"]}, {"add": [True, 1.0]})
    assert [(type(v).__name__, v) for v in out["add"]] == [("bool", True), ("float", 1.0), ("str", "1")]


def test_raw_combine_keeps_types_apart(tmp_path: Path) -> None:
    (tmp_path / "flow.yaml").write_text(
        "collections:\n  acmeCo/c:\n    schema: {type: object, reduce: {strategy: merge}, required: [k],"
        " properties: {k: {type: [integer, string, boolean]}, n: {reduce: {strategy: sum}}}}\n"
        "    key: [/k]\n"
    )
    docs = [{"k": 1, "n": 1}, {"k": True, "n": 2}, {"k": "1", "n": 4}, {"k": 1.0, "n": 8}, {"k": 0, "n": 16}]
    proc = run_combine(tmp_path / "flow.yaml", "acmeCo/c", docs)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        '{"k":true,"n":2}',
        '{"k":0,"n":16}',
        '{"k":1.0,"n":9}',
        '{"k":"1","n":4}',
    ]


def test_preview_combines_connector_documents_by_typed_key(make_catalog: MakeCatalog) -> None:
    schema = {
        "type": "object",
        "properties": {"id": {"type": ["integer", "string", "boolean"]}, "n": {"type": "integer"}},
        "required": ["id"],
    }
    cat = make_catalog(
        config={"mode": "typed_keys"},
        bindings=[{"resource": {"name": "users"}, "target": "acmeCo/users"}],
        schema=schema,
    )
    res = run_flowctl("preview", "--source", str(cat.path), "--sessions", "1")
    assert res.code == 0, res.stderr
    got = [(line[1]["id"], line[1]["n"]) for line in res.lines()]
    # ids sent, with n = position: 1, true, "1", 1.0, false, 0, "true", 2; last write wins, and
    # 1/1.0 are one key
    assert got == [(False, 4), (True, 1), (0, 5), (1.0, 3), (2, 7), ("1", 2), ("true", 6)]
