"""Catalog files are parsed strictly: a key written twice in one mapping is refused (naming the
key, the file and its lines) rather than silently replaced, and a syntax error names its line
and column without quoting the line (which may hold a secret)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from flowctl.catalog import load_catalog
from flowctl.errors import CatalogError
from flowctl.yaml_load import DuplicateKeyError, SourceSyntaxError, load_json, load_yaml

from .conftest import MakeCatalog, run_flowctl

SECRET = "sk_live_do-not-print-me-4711"


def test_two_bindings_keys_in_one_capture_are_refused(make_catalog: MakeCatalog) -> None:
    cat = make_catalog()
    text = cat.path.read_text()
    assert "\n    bindings:\n" in text
    # A second `bindings:` with one binding: today's yaml would keep only that one, silently.
    second = "    bindings:\n    - resource: {name: events}\n      target: acmeCo/events\n"
    cat.path.write_text(text.rstrip("\n") + "\n" + second)
    lines = cat.path.read_text().splitlines()
    first_line = lines.index("    bindings:") + 1
    second_line = len(lines) - 2

    res = run_flowctl("preview", "--source", str(cat.path), "--sessions", "1")
    assert res.code == 1
    assert f"{cat.path}: not valid YAML: line {second_line}: duplicate key 'bindings'" in res.stderr
    assert f"(first at line {first_line})" in res.stderr
    assert res.stdout == "" and cat.requests("spec") == []


def test_a_duplicate_key_in_a_referenced_config_file_names_that_file(make_catalog: MakeCatalog) -> None:
    cat = make_catalog()
    config = cat.path.parent / "config.yaml"
    config.write_text("mode: ok\napi_key: first\nmode: fail\n")
    cat.path.write_text(cat.path.read_text().replace("config:\n          mode: ok", "config: config.yaml"))
    with pytest.raises(CatalogError) as info:
        load_catalog(cat.path)
    assert info.value.file == str(config)
    assert "line 3: duplicate key 'mode' (first at line 1)" in str(info.value)


def test_a_duplicate_key_in_a_json_schema_is_refused(tmp_path: Path) -> None:
    (tmp_path / "x.schema.json").write_text('{"type": "object", "required": ["id"], "type": "array"}')
    (tmp_path / "flow.yaml").write_text("collections:\n  acmeCo/x: {schema: x.schema.json, key: [/id]}\n")
    res = run_flowctl("raw", "bundle", "--source", str(tmp_path / "flow.yaml"))
    assert res.code == 1
    assert f"{tmp_path / 'x.schema.json'}: not valid JSON: duplicate key 'type'" in res.stderr


def test_keys_of_different_mappings_and_merge_keys_may_repeat() -> None:
    doc = load_yaml("a: {x: 1}\nb: {x: 2}\nbase: &b {k: 1, v: 2}\nc:\n  <<: *b\n  k: 3\n")
    assert doc["c"] == {"k": 3, "v": 2}
    assert load_json(b'[{"a": 1}, {"a": 2}]') == [{"a": 1}, {"a": 2}]
    with pytest.raises(DuplicateKeyError) as info:
        load_yaml("a: 1\nb:\n  c: 1\n  c: 2\n")
    assert (info.value.key, info.value.line, info.value.first_line) == ("c", 4, 3)


@pytest.mark.parametrize(
    "text",
    [
        f'mode: ok\napi_key: "{SECRET}\nother: 1\n',  # an unterminated quote on the secret's line
        f"mode: ok\napi_key: {SECRET}: more\n",  # a mapping where a scalar belongs
        f"mode: ok\n\tapi_key: {SECRET}\n",  # a tab
    ],
)
def test_a_syntax_error_on_a_secrets_line_does_not_quote_it(make_catalog: MakeCatalog, text: str) -> None:
    cat = make_catalog()
    config = cat.path.parent / "config.yaml"
    config.write_text(text)
    cat.path.write_text(cat.path.read_text().replace("config:\n          mode: ok", "config: config.yaml"))
    res = run_flowctl("preview", "--source", str(cat.path), "--sessions", "1")
    assert res.code == 1
    assert f"{config}: not valid YAML: line " in res.stderr
    assert SECRET not in res.stderr + res.stdout
    assert "do-not-print" not in res.stderr


def test_a_syntax_error_says_what_and_where() -> None:
    with pytest.raises(SourceSyntaxError) as info:
        load_yaml(f'a: 1\nb: "{SECRET}\n')
    assert str(info.value).startswith("line 3, column 1: found unexpected end of stream")
    assert "scanning a quoted scalar at line 2" in str(info.value)
    with pytest.raises(SourceSyntaxError) as info:
        load_json(json.dumps({"token": SECRET}).encode()[:-3])
    assert str(info.value).startswith("line 1, column") and SECRET not in str(info.value)
