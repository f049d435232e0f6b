"""Collection keys that documents cannot lack (issue 12, item 1): a catalog whose key is not a
required, scalar, non-null location of its schema is refused before any connector runs, a
document without its key is an error naming where it was, and `raw discover` writes no such key.
Also `raw discover` dropping bindings whose resources are gone (item 9)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from flowctl.catalog import load_catalog
from flowctl.combine import Combiner
from flowctl.errors import DocumentKeyError
from flowctl.keys import key_defaults, key_problems
from flowctl.reduce import Reducer
from flowctl.schema import Validator
from flowctl.session import Compiled

from .conftest import FAKE, MakeCatalog, run_combine, run_flowctl

ITEM: dict[str, Any] = {
    "type": "object",
    "additionalProperties": True,
    "properties": {
        "id": {"type": "integer"},
        "title": {"type": "string"},
        "score": {"type": ["integer", "null"]},
        "ratio": {"type": "number"},
        "tags": {"type": "array"},
    },
    "required": ["id", "score", "ratio", "tags"],
}


@pytest.mark.parametrize(
    ("key", "why"),
    [
        (["/issue_id"], "the schema declares no property 'issue_id' at the document root"),
        (["/title"], "key /title is not required: list 'title' in `required`"),
        (["/score"], "key /score may be null"),
        (["/ratio"], "key /ratio may be a number with a fraction"),
        (["/tags"], "key /tags may be an array"),
        (["/id/x"], "key /id/x can never exist"),
        (["/id", "/issue_id"], "no property 'issue_id'"),
    ],
)
def test_key_problems_say_why(key: list[str], why: str) -> None:
    problems = key_problems(ITEM, key)
    assert len(problems) == 1 and why in problems[0], problems


def test_required_scalar_keys_and_defaulted_row_ids_are_keys() -> None:
    assert key_problems(ITEM, ["/id"]) == []
    # The kit's snapshot collections: /_meta/row_id is optional with a default (-1).
    snapshot = {
        "type": "object",
        "$defs": {"Meta": {"properties": {"row_id": {"type": "integer", "default": -1}}}},
        "properties": {"_meta": {"$ref": "#/$defs/Meta"}},
    }
    assert key_problems(snapshot, ["/_meta/row_id"]) == []
    assert key_defaults(snapshot, ["/_meta/row_id"])[0] == -1


def test_preview_refuses_a_key_no_document_has_before_running_the_connector(
    make_catalog: MakeCatalog,
) -> None:
    schema = {"type": "object", "properties": {"issue_id": {"type": "integer"}, "n": {"type": "integer"}}}
    cat = make_catalog(schema=schema)
    res = run_flowctl("preview", "--source", str(cat.path), "--sessions", "1")
    assert res.code == 1
    flow_yaml = cat.path.parent / "acmeCo" / "flow.yaml"
    assert f"{flow_yaml}#/collections/acmeCo~1users/key: collection acmeCo/users:" in res.stderr
    assert "no property 'id' at the document root (its properties: issue_id, n)" in res.stderr
    assert res.stdout == ""
    assert cat.requests("validate") == [] and cat.requests("open") == []


def test_a_document_without_its_key_is_an_error_naming_it(make_catalog: MakeCatalog) -> None:
    # The schema requires the key, so the build accepts it; the connector then omits it once.
    cat = make_catalog(config={"mode": "ok", "per_session": 5, "keyless_id": 4})
    res = run_flowctl("preview", "--source", str(cat.path))
    assert res.code == 1
    assert (
        "error: document #4 of binding 0 in this session (document 2 of 2 before checkpoint 2) of "
        "collection 'acmeCo/users' has no value at its key location /id" in res.stderr
    )
    assert '"n":40' in res.stderr  # the document itself is shown


def test_combiner_refuses_keyless_documents_and_uses_key_defaults() -> None:
    schema = {"type": "object"}
    combiner = Combiner("acmeCo/x", ["/k"], Reducer(schema), Validator(schema))
    with pytest.raises(DocumentKeyError) as err:
        combiner.add_all([{"k": 1}, {"k": 2}, {"n": 3}])
    assert err.value.index == 2 and "document 3 of 3" in str(err.value)
    with pytest.raises(DocumentKeyError):
        Combiner("acmeCo/x", ["/a/b"], Reducer(schema), Validator(schema)).add({"a": {}})
    # Before, every keyless document extracted as null and they merged into one.
    snapshot = {
        "type": "object",
        "properties": {"_meta": {"properties": {"row_id": {"type": "integer", "default": -1}}}},
    }
    catalog_like = Compiled(
        "acmeCo/s",
        ["/_meta/row_id"],
        Reducer(snapshot),
        Validator(snapshot),
        key_defaults(snapshot, ["/_meta/row_id"]),
    ).combiner()
    catalog_like.add_all(
        [{"_meta": {"row_id": 0}, "v": "a"}, {"v": "b"}, {"_meta": {"row_id": -1}, "v": "c"}]
    )
    assert [d["v"] for d in catalog_like.drain()] == ["c", "a"]


def test_raw_combine_refuses_a_bad_key_and_names_the_keyless_line(tmp_path: Path) -> None:
    source = tmp_path / "flow.yaml"

    def combine(schema: dict[str, Any], docs: list[dict[str, Any]]) -> subprocess.CompletedProcess[str]:
        source.write_text(yaml.safe_dump({"collections": {"acmeCo/c": {"schema": schema, "key": ["/k"]}}}))
        return run_combine(source, "acmeCo/c", docs)

    proc = combine({"type": "object", "properties": {"k": {"type": "string"}}}, [{"k": "a"}])
    assert proc.returncode == 1 and "key /k is not required" in proc.stderr
    required = {"type": "object", "properties": {"k": {"type": "string"}}, "required": ["k"]}
    proc = combine(required, [{"k": "a"}, {"j": "b"}])
    assert proc.returncode == 1
    assert (
        "the document of stdin line 2 of collection 'acmeCo/c' has no value at its key location /k"
        in proc.stderr
    )


def _discover_catalog(tmp_path: Path, bindings: list[dict[str, Any]]) -> Path:
    source = tmp_path / "test.flow.yaml"
    capture = {
        "endpoint": {"local": {"command": [sys.executable, str(FAKE)], "config": {}}},
        "bindings": bindings,
    }
    source.write_text(yaml.safe_dump({"captures": {"acmeCo/source-fake": capture}}))
    return source


def test_raw_discover_refuses_a_key_its_schema_does_not_guarantee(tmp_path: Path) -> None:
    source = _discover_catalog(tmp_path, [])
    before = source.read_text()
    env = {"FAKE_DISCOVER_KEY": '["/issue_id"]'}
    res = run_flowctl("raw", "discover", "--source", str(source), env=env)
    assert res.code == 1
    assert "binding 'users' (collection acmeCo/users, key [\"/issue_id\"])" in res.stderr
    assert "no property 'issue_id'" in res.stderr and "nothing was written" in res.stderr
    assert source.read_text() == before and not (tmp_path / "acmeCo").exists()
    raw = run_flowctl("raw", "discover", "--source", str(source), "--emit-raw", env=env)
    assert raw.code == 0 and "warning: binding 'users'" in raw.stderr


def test_raw_discover_removes_bindings_whose_resources_are_gone(tmp_path: Path) -> None:
    source = _discover_catalog(tmp_path, [])
    assert run_flowctl("raw", "discover", "--source", str(source)).code == 0
    catalog = yaml.safe_load(source.read_text())
    catalog["captures"]["acmeCo/source-fake"]["bindings"][0]["backfill"] = 2  # the user's edit stays
    source.write_text(yaml.safe_dump(catalog))

    res = run_flowctl("raw", "discover", "--source", str(source), env={"FAKE_DISCOVER_ONLY": "users"})
    assert res.code == 0, res.stderr
    assert (
        'removed binding 1 of acmeCo/source-fake (resource {"name":"events"}, target acmeCo/events): '
        "the connector no longer discovers its resource" in res.stderr
    )
    bindings = yaml.safe_load(source.read_text())["captures"]["acmeCo/source-fake"]["bindings"]
    assert bindings == [{"resource": {"name": "users"}, "target": "acmeCo/users", "backfill": 2}]
    # The next preview runs (before: "Resource 'events' was not found" from a real connector).
    assert load_catalog(source).captures["acmeCo/source-fake"].bindings[0].target == "acmeCo/users"
    assert run_flowctl("preview", "--source", str(source), "--sessions", "1").code == 0
