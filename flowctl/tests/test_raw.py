"""`flowctl raw ...` commands and catalog handling."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

from .conftest import FAKE, MakeCatalog, run_combine, run_flowctl


def test_raw_spec_prints_the_spec_in_proto_order(make_catalog: MakeCatalog) -> None:
    cat = make_catalog()
    res = run_flowctl("raw", "spec", "--source", str(cat.path), "--capture", "acmeCo/source-fake")
    assert res.code == 0, res.stderr
    (spec,) = res.lines()
    assert list(spec) == [
        "protocol",
        "configSchema",
        "resourceConfigSchema",
        "documentationUrl",
        "resourcePathPointers",
    ]
    assert spec["protocol"] == 3032023 and spec["resourcePathPointers"] == ["/name"]
    # the Spec RPC carries the endpoint config
    assert cat.requests("spec")[0]["request"]["spec"] == {"connectorType": "LOCAL", "config": {"mode": "ok"}}


def test_raw_spec_rejects_a_wrong_protocol_version(make_catalog: MakeCatalog) -> None:
    res = run_flowctl("raw", "spec", "--source", str(make_catalog(config={"mode": "bad_protocol"}).path))
    assert res.code == 1
    assert "connector returned an unexpected protocol version 1 (expected 3032023)" in res.stderr


def test_raw_discover_emit_raw_json(make_catalog: MakeCatalog) -> None:
    cat = make_catalog()
    before = cat.path.read_text()
    res = run_flowctl("raw", "discover", "--source", str(cat.path), "-o", "json", "--emit-raw")
    assert res.code == 0, res.stderr
    bindings = res.lines()
    assert [b["recommendedName"] for b in bindings] == ["users", "events"]
    assert "disable" not in bindings[0] and bindings[1]["disable"] is True
    assert list(bindings[0]) == ["recommendedName", "resourceConfig", "documentSchema", "key"]
    assert cat.path.read_text() == before  # --emit-raw writes nothing
    (discover,) = cat.requests("discover")
    assert discover["request"]["discover"]["config"] == {"mode": "ok"}


def test_raw_discover_writes_catalog_files(tmp_path: Path) -> None:
    source = tmp_path / "test.flow.yaml"
    source.write_text(
        yaml.safe_dump(
            {
                "captures": {
                    "acmeCo/source-fake": {
                        "endpoint": {"local": {"command": [sys.executable, str(FAKE)], "config": {}}},
                        "bindings": [],
                    }
                }
            }
        )
    )
    res = run_flowctl("raw", "discover", "--source", str(source))
    assert res.code == 0, res.stderr
    catalog = yaml.safe_load(source.read_text())
    assert catalog["import"] == ["acmeCo/flow.yaml"]
    assert catalog["captures"]["acmeCo/source-fake"]["bindings"] == [
        {"resource": {"name": "users"}, "target": "acmeCo/users"},
        {"resource": {"name": "events"}, "target": "acmeCo/events", "disable": True},
    ]
    flow = yaml.safe_load((tmp_path / "acmeCo" / "flow.yaml").read_text())
    assert flow["collections"]["acmeCo/users"] == {"schema": "users.schema.yaml", "key": ["/id"]}
    schema = yaml.safe_load((tmp_path / "acmeCo" / "users.schema.yaml").read_text())
    assert schema["required"] == ["id"]
    # the written catalog is usable, and a second discovery keeps the bindings as they are
    assert run_flowctl("raw", "discover", "--source", str(source)).code == 0
    again = yaml.safe_load(source.read_text())
    assert (
        again["captures"]["acmeCo/source-fake"]["bindings"]
        == catalog["captures"]["acmeCo/source-fake"]["bindings"]
    )
    assert again["import"] == ["acmeCo/flow.yaml"]
    # an import spelled differently is recognised too
    source.write_text(source.read_text().replace("- acmeCo/flow.yaml", "- ./acmeCo/flow.yaml"))
    assert run_flowctl("raw", "discover", "--source", str(source)).code == 0
    assert yaml.safe_load(source.read_text())["import"] == ["./acmeCo/flow.yaml"]
    res = run_flowctl("preview", "--source", str(source))
    assert res.code == 0, res.stderr
    assert {c for c, _ in res.lines()} == {"acmeCo/users"}


def test_raw_discover_writes_a_fragment_schema_in_place(tmp_path: Path) -> None:
    """`schema: schemas.yaml#/definitions/users`: the discovered schema replaces that definition;
    the file's other definitions stay."""
    (tmp_path / "schemas.yaml").write_text(
        yaml.safe_dump({"definitions": {"users": {"type": "object"}, "other": {"type": "string"}}})
    )
    (tmp_path / "test.flow.yaml").write_text(
        yaml.safe_dump(
            {
                "collections": {
                    "acmeCo/users": {"schema": "schemas.yaml#/definitions/users", "key": ["/id"]}
                },
                "captures": {
                    "acmeCo/source-fake": {
                        "endpoint": {"local": {"command": [sys.executable, str(FAKE)], "config": {}}},
                        "bindings": [{"resource": {"name": "users"}, "target": "acmeCo/users"}],
                    }
                },
            }
        )
    )
    res = run_flowctl("raw", "discover", "--source", str(tmp_path / "test.flow.yaml"))
    assert res.code == 0, res.stderr
    schemas = yaml.safe_load((tmp_path / "schemas.yaml").read_text())
    assert schemas["definitions"]["other"] == {"type": "string"}
    assert schemas["definitions"]["users"]["required"] == ["id"]
    catalog = yaml.safe_load((tmp_path / "test.flow.yaml").read_text())
    assert catalog["collections"]["acmeCo/users"]["schema"] == "schemas.yaml#/definitions/users"


def test_raw_discover_keeps_a_json_schema_file_json(tmp_path: Path) -> None:
    (tmp_path / "users.schema.json").write_text('{"type": "object"}')
    (tmp_path / "test.flow.yaml").write_text(
        yaml.safe_dump(
            {
                "collections": {"acmeCo/users": {"schema": "users.schema.json", "key": ["/id"]}},
                "captures": {
                    "acmeCo/source-fake": {
                        "endpoint": {"local": {"command": [sys.executable, str(FAKE)], "config": {}}},
                        "bindings": [{"resource": {"name": "users"}, "target": "acmeCo/users"}],
                    }
                },
            }
        )
    )
    res = run_flowctl("raw", "discover", "--source", str(tmp_path / "test.flow.yaml"))
    assert res.code == 0, res.stderr
    assert json.loads((tmp_path / "users.schema.json").read_text())["required"] == ["id"]
    assert run_flowctl("raw", "bundle", "--source", str(tmp_path / "test.flow.yaml")).code == 0


def test_raw_validate_and_apply(make_catalog: MakeCatalog) -> None:
    cat = make_catalog()
    res = run_flowctl("raw", "validate", "--source", str(cat.path))
    assert res.code == 0, res.stderr
    assert res.lines() == [
        {"validated": {"bindings": [{"resourcePath": ["users"]}, {"resourcePath": ["events"]}]}}
    ]
    validate = cat.requests("validate")[0]["request"]["validate"]
    assert validate["name"] == "acmeCo/source-fake"
    assert [b["collection"]["name"] for b in validate["bindings"]] == ["acmeCo/users", "acmeCo/events"]
    assert validate["bindings"][0]["collection"]["writeSchema"]["required"] == ["id"]
    res = run_flowctl("raw", "apply", "--source", str(cat.path))
    assert res.code == 0, res.stderr
    assert res.lines() == [{"applied": {"actionDescription": 'would create "users, events"\n'}}]
    apply = cat.requests("apply")[0]["request"]["apply"]
    assert apply["version"] and [b["stateKey"] for b in apply["capture"]["bindings"]] == ["users", "events"]


def test_raw_bundle_inlines_references(make_catalog: MakeCatalog) -> None:
    cat = make_catalog()
    res = run_flowctl("raw", "bundle", "--source", str(cat.path))
    assert res.code == 0, res.stderr
    (bundled,) = res.lines()
    assert bundled["collections"]["acmeCo/users"]["schema"]["properties"]["id"] == {"type": "integer"}
    assert bundled["captures"]["acmeCo/source-fake"]["endpoint"]["local"]["config"] == {"mode": "ok"}


def test_schema_refs_to_other_files_are_bundled(tmp_path: Path) -> None:
    (tmp_path / "defs.yaml").write_text("definitions:\n  id: {type: integer, minimum: 1}\n")
    (tmp_path / "flow.yaml").write_text(
        f"""collections:
  acmeCo/users:
    schema:
      type: object
      properties:
        id: {{$ref: "defs.yaml#/definitions/id"}}
      required: [id]
    key: [/id]
captures:
  acmeCo/source-fake:
    endpoint: {{local: {{command: [{sys.executable}, {FAKE}], config: {{invalid_id: 99}}}}}}
    bindings: [{{resource: {{name: users}}, target: acmeCo/users}}]
"""
    )
    res = run_flowctl(
        "preview",
        "--source",
        str(tmp_path / "flow.yaml"),
        "--initial-state",
        '{"bindingStateV1":{"users":{"cursor":-1}}}',
    )
    assert res.code == 1
    assert "with key [0] failed validation" in res.stderr and "minimum" in res.stderr


def test_catalog_errors_name_file_and_location(tmp_path: Path) -> None:
    def check(text: str, *expected: str) -> None:
        (tmp_path / "flow.yaml").write_text(text)
        res = run_flowctl("raw", "bundle", "--source", str(tmp_path / "flow.yaml"))
        assert res.code == 1, res.stderr
        for part in expected:
            assert part in res.stderr, res.stderr

    f = str(tmp_path / "flow.yaml")
    check("import: [missing.yaml]\n", f"{f}#/import/0", "missing.yaml", "does not exist")
    check(
        "collections:\n  acmeCo/x: {schema: {type: object}, key: id}\n",
        f"{f}#/collections/acmeCo~1x/key",
        "JSON pointers",
    )
    check(
        "collections:\n  acmeCo/x: {schema: nope.yaml, key: [/id]}\n",
        f"{f}#/collections/acmeCo~1x/schema",
        "cannot read referenced file",
    )
    check(
        "captures:\n  acmeCo/c:\n    endpoint: {local: {command: [x], config: {}}}\n    bindings: [{resource: {}, target: acmeCo/nope}]\n",
        f"{f}#/captures/acmeCo~1c/bindings/0/target",
        "'acmeCo/nope' is not defined",
    )
    check(
        "captures:\n  acmeCo/c:\n    endpoint: {local: {command: []}}\n",
        "endpoint/local/command",
        "non-empty list",
    )
    check(
        "captures:\n  acmeCo/c: {endpoint: {local: {command: [x]}}, interval: soon}\n",
        "/interval",
        "invalid duration",
    )
    check(
        "collections:\n  acmeCo/x: [/id]\n", f"{f}#/collections/acmeCo~1x", "a collection must be a mapping"
    )
    check("captures:\n  acmeCo/c: x\n", f"{f}#/captures/acmeCo~1c", "a capture must be a mapping")
    (tmp_path / "other.yaml").write_text("collections:\n  acmeCo/x: {schema: {type: object}, key: [/id]}\n")
    check(
        "import: [other.yaml]\ncollections:\n  acmeCo/x: {schema: {type: object}, key: [/id]}\n",
        f"{f}#/collections/acmeCo~1x",
        f"collection 'acmeCo/x' is also defined in {tmp_path / 'other.yaml'}",
    )
    check("nonsense: [\n", f, "not valid YAML")
    check("collectionz: {}\n", "unknown top-level key 'collectionz'")


def test_several_captures_need_a_name(make_catalog: MakeCatalog) -> None:
    cat = make_catalog()
    doc = yaml.safe_load(cat.path.read_text())
    doc["captures"]["acmeCo/other"] = doc["captures"]["acmeCo/source-fake"]
    cat.path.write_text(yaml.safe_dump(doc))
    res = run_flowctl("preview", "--source", str(cat.path))
    assert res.code == 2 and "several captures" in res.stderr
    res = run_flowctl("preview", "--source", str(cat.path), "--name", "acmeCo/other", "--sessions", "1")
    assert res.code == 0, res.stderr
    assert json.loads(res.stdout.splitlines()[0])[0] == "acmeCo/users"


def test_json_config_file_and_resource_file(make_catalog: MakeCatalog) -> None:
    cat = make_catalog(
        config="endpoint.json", bindings=[{"resource": "users.resource.json", "target": "acmeCo/users"}]
    )  # type: ignore[arg-type]
    (cat.path.parent / "endpoint.json").write_text(json.dumps({"mode": "ok", "per_session": 1}))
    (cat.path.parent / "users.resource.json").write_text(json.dumps({"name": "users"}))
    res = run_flowctl("preview", "--source", str(cat.path))
    assert res.code == 0, res.stderr
    assert [(c, d["id"]) for c, d in res.lines()] == [("acmeCo/users", 1)]
    capture = cat.requests("open")[0]["request"]["open"]["capture"]
    assert capture["config"] == {"mode": "ok", "per_session": 1}
    assert capture["bindings"][0]["resourceConfig"] == {"name": "users"}


def test_raw_combine_reduces_stdin_documents(tmp_path: Path) -> None:

    (tmp_path / "flow.yaml").write_text(
        """collections:
  acmeCo/counts:
    schema:
      type: object
      reduce: {strategy: merge}
      properties:
        k: {type: string}
        n: {type: integer, reduce: {strategy: sum}}
      required: [k]
    key: [/k]
"""
    )
    docs = [{"k": "b", "n": 1}, {"k": "a", "n": 2}, {"k": "b", "n": 3, "x": True}]
    proc = run_combine(tmp_path / "flow.yaml", "acmeCo/counts", docs)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == '{"k":"a","n":2}\n{"k":"b","n":4,"x":true}\n'
