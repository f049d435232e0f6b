"""flowctl's one JSON pointer implementation (RFC 6901)."""

from __future__ import annotations

import pytest

from flowctl import json_pointer as jp


def test_escaping_round_trips() -> None:
    assert jp.join("a", "b/c", "d~e", 0) == "/a/b~1c/d~0e/0"
    assert jp.split("/a/b~1c/d~0e/0") == ["a", "b/c", "d~e", "0"]
    assert jp.split("") == [] and jp.split("/") == []
    assert jp.unescape("~01") == "~1"  # `~0` first would be wrong: RFC 6901 order


def test_resolve_raises_and_query_defaults() -> None:
    doc = {"a": {"b": [10, {"c": None}]}, "x/y": 1}
    assert jp.resolve(doc, "/a/b/1/c") is None
    assert jp.resolve(doc, "/x~1y") == 1 and jp.resolve(doc, "") is doc
    with pytest.raises(KeyError):
        jp.resolve(doc, "/a/missing")
    with pytest.raises(KeyError):
        jp.resolve(doc, "/x~1y/deeper")
    assert jp.query(doc, ["a", "b", "0"]) == 10
    assert jp.query(doc, ["a", "b", "1", "c"], "dflt") is None  # present null is not missing
    assert jp.query(doc, ["a", "b", "7"], "dflt") == "dflt"
    assert jp.query(doc, ["a", "b", "-"], "dflt") == "dflt"
    assert jp.query(doc, ["x/y", "z"], "dflt") == "dflt"


def test_create_builds_missing_objects() -> None:
    doc: dict[str, object] = {"_meta": "not an object", "id": 1}
    jp.create(doc, ["_meta", "uuid"], "u")
    jp.create(doc, ["a", "b", "c"], 3)
    assert doc == {"_meta": {"uuid": "u"}, "id": 1, "a": {"b": {"c": 3}}}
