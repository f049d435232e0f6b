"""`flowctl preview --fixture` for materializations, against the fake materialization connector
(a subprocess speaking JSON lines that stores rows in SQLite)."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import FIXTURES, MakeMatCatalog, MatCatalog
from .conftest import run_flowctl as run_subprocess
from .conftest import run_in_process as run_flowctl

NAME = "acmeCo/to-fake"
FIXTURE = [
    {"commit": True},  # an initial empty transaction, as connector fixtures have
    ["acmeCo/users", {"id": 1, "name": "a", "_meta": {"op": "c"}}],
    ["acmeCo/users", {"id": 2, "name": "b", "tags": ["x"], "_meta": {"op": "c"}}],
    ["acmeCo/events", {"id": 9, "name": "not bound"}],
    ["acmeCo/users", {"id": 1, "n": 7, "_meta": {"op": "u"}}],  # combines with id 1 above
    {"commit": True},
    {"commit": True},  # an empty transaction
    ["acmeCo/users", {"id": 1, "name": "a2", "_meta": {"op": "u"}}],
    ["acmeCo/users", {"id": 2, "_meta": {"op": "d"}}],  # a deletion
    ["acmeCo/users", {"id": 3, "name": "c", "nested": {"deep": True}, "_meta": {"op": "c"}}],
    # trailing documents without a marker: a last transaction
]


def write_fixture(path: Path, lines: list[Any]) -> Path:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def preview(cat: MatCatalog, fixture: Path, *args: str) -> Any:
    return run_flowctl("preview", "--source", str(cat.path), "--name", NAME, "--fixture", str(fixture), *args)


def test_fixture_transactions_are_loaded_reduced_and_stored(
    make_mat_catalog: MakeMatCatalog, tmp_path: Path
) -> None:
    cat = make_mat_catalog()
    res = preview(cat, write_fixture(tmp_path / "f.json", FIXTURE), "--output-apply", "--output-state")
    assert res.code == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0].startswith('["applied.actionDescription", "CREATE TABLE users (id, _meta/op, ')
    assert lines[1:] == ['["connectorState",{}]'] * 4  # one per committed transaction
    rows = cat.rows()
    assert sorted(rows) == ["[1]", "[3]"]  # id 2 was deleted
    values, doc = rows["[1]"]
    # values: _meta/op, flow_published_at, n, name, nested/deep, tags
    assert values == ["u", "1970-01-01T03:00:00.000000000Z", 7, "a2", None, None]
    assert doc["name"] == "a2" and doc["n"] == 7 and doc["_meta"]["op"] == "u"
    assert doc["_meta"]["uuid"].endswith("-071353030311")
    values3, _ = rows["[3]"]
    # `n` is missing: its schema default (0); `tags` is missing without a default: null
    assert values3 == ["c", "1970-01-01T03:00:02.000000000Z", 0, "c", True, None]
    # the protocol: what the runtime sent
    stores = cat.query("SELECT key_json, exists_, del FROM stores ORDER BY seq")
    assert stores == [("[1]", 0, 0), ("[2]", 0, 0), ("[1]", 1, 0), ("[2]", 1, 1), ("[3]", 0, 0)]
    sent = [json.loads(line)["request"] for line in cat.record.read_text().splitlines()]
    session = sent[next(i for i, r in enumerate(sent) if "open" in r) :]
    kinds = [next(iter(r)) for r in session]
    assert kinds == [
        "open",
        *["acknowledge", "flush", "startCommit"],  # the empty first transaction
        *["acknowledge", "load", "load", "flush", "store", "store", "startCommit"],
        *["acknowledge", "flush", "startCommit"],
        *["acknowledge", "load", "load", "load", "flush", "store", "store", "store", "startCommit"],
        "acknowledge",
    ]
    checkpoints = [r["startCommit"]["runtimeCheckpoint"] for r in session if "startCommit" in r]
    assert checkpoints == [{"sources": {"fixture": {"readThrough": str(i)}}} for i in (1, 2, 3, 4)]
    load = next(r["load"] for r in session if "load" in r)
    assert load == {"binding": 0, "keyPacked": "FQE="}  # packed forms only
    opened = session[0]["open"]
    assert opened["range"] == {"keyEnd": 4294967295, "rClockEnd": 4294967295} and opened["state"] == {}


def test_legacy_fixture_and_delta_updates(make_mat_catalog: MakeMatCatalog, tmp_path: Path) -> None:
    cat = make_mat_catalog(
        bindings=[
            {"resource": {"table": "d", "delta_updates": True}, "source": "acmeCo/users"},
            {"resource": {"table": "s"}, "source": "acmeCo/users"},
        ]
    )
    legacy = [
        [["acmeCo/users", {"id": 1, "name": "x"}], ["acmeCo/users", {"id": 1, "name": "y"}]],
        [["acmeCo/users", {"id": 1, "name": "z"}]],
    ]
    fixture = tmp_path / "legacy.json"
    fixture.write_text(json.dumps(legacy))
    res = preview(cat, fixture)
    assert res.code == 0, res.stderr
    delta = cat.query("SELECT key_json, values_json, doc FROM delta_rows WHERE tbl = 'd' ORDER BY seq")
    # combined within each transaction only; no document (a delta binding only recommends it)
    assert [(k, json.loads(v)[3], d) for k, v, d in delta] == [("[1]", "y", None), ("[1]", "z", None)]
    assert {k: d["name"] for k, (_, d) in cat.rows("s").items()} == {"[1]": "z"}
    loads = [r for r in cat.requests("load")]
    assert all(r["load"]["binding"] == 1 for r in loads)  # delta bindings are never loaded


def test_resumed_session_skips_committed_transactions(
    make_mat_catalog: MakeMatCatalog, tmp_path: Path
) -> None:
    cat = make_mat_catalog()
    fixture = write_fixture(tmp_path / "f.json", FIXTURE)
    res = preview(cat, fixture, "--sessions", "2,-1", "--output-state")
    assert res.code == 0, res.stderr
    assert res.stdout.splitlines() == ['["connectorState",{}]'] * 4
    commits = [
        r["startCommit"]["runtimeCheckpoint"]["sources"]["fixture"]["readThrough"]
        for r in cat.requests("startCommit")
    ]
    assert commits == ["1", "2", "3", "4"]  # the second session resumed at 2
    assert len(cat.requests("open")) == 2 and len(cat.requests("apply")) == 2
    assert sorted(cat.rows()) == ["[1]", "[3]"]
    # a second run: the destination's checkpoint says everything is committed
    again = preview(cat, fixture, "--output-state")
    assert again.code == 0 and again.stdout == ""
    assert len(cat.requests("startCommit")) == 4


def test_without_a_destination_checkpoint_flowctl_resumes_from_its_own(
    make_mat_catalog: MakeMatCatalog, tmp_path: Path
) -> None:
    cat = make_mat_catalog(config={"no_checkpoint": True, "states": True})
    res = preview(cat, write_fixture(tmp_path / "f.json", FIXTURE), "--sessions", "1,1,-1", "--output-state")
    assert res.code == 0, res.stderr
    states = [json.loads(line)[1] for line in res.stdout.splitlines()]
    assert len(states) == 4
    # acknowledged (0), flushed (0), startedCommit (1) folded into one patch per transaction
    assert states[0] == {"updated": {"acked": 0, "flushed": 0, "committed": 1}, "mergePatch": True}
    opens = [r["open"]["state"] for r in cat.requests("open")]
    assert opens[0] == {} and opens[1]["committed"] == 1 and opens[2]["committed"] == 1


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("flushed_early", 'connector protocol error (expected Acknowledged): {"flushed":{}}'),
        # met before or after Flush was sent, whichever the timing gives
        ("double_acknowledged", '): {"acknowledged":{}}'),
        ("no_flushed", "unexpected connector EOF (expected Flushed)"),
        ("exit_during_store", "unexpected connector EOF (expected StartedCommit)"),
        # noticed during the stores or when StartedCommit is due, whichever comes first
        ("respond_during_store", 'StartedCommit): {"flushed":{}}'),
        ("fail_at_load", "connector failed (exit status 1): the fake database refused the query"),
        (
            "loaded_unrequested",
            "Loaded document of binding 0 has key [424242], which was not requested in this transaction",
        ),
        ("loaded_twice", "key [1] of binding 0 was loaded twice in one transaction"),
        ("exit_before_opened", "connector failed (exit status 1): could not connect to the fake database"),
        ("fail_after_commits", "connector failed (exit status 1): failing after 2 commits"),
    ],
)
def test_misbehaving_connectors_fail_the_run(
    make_mat_catalog: MakeMatCatalog, tmp_path: Path, mode: str, message: str
) -> None:
    cat = make_mat_catalog(config={"mode": mode, "commits_before_failure": 2})
    fixture = FIXTURE if mode != "loaded_twice" else [*FIXTURE, {"commit": True}, ["acmeCo/users", {"id": 1}]]
    res = preview(cat, write_fixture(tmp_path / "f.json", fixture))
    assert res.code == 1, res.stderr
    assert message in res.stderr, res.stderr


def test_a_silent_connector_times_out_naming_what_was_awaited(
    make_mat_catalog: MakeMatCatalog, tmp_path: Path
) -> None:
    cat = make_mat_catalog(config={"mode": "hang_at_flush"})
    res = preview(cat, write_fixture(tmp_path / "f.json", FIXTURE), "--timeout", "1s")
    assert res.code == 1
    assert "connector did not answer within 1s (waiting for Flushed)" in res.stderr, res.stderr


def test_fixture_errors(make_mat_catalog: MakeMatCatalog, tmp_path: Path) -> None:
    cat = make_mat_catalog()
    bad = tmp_path / "bad.json"
    bad.write_text('{"commit": true}\n["acmeCo/users"]\n')
    res = preview(cat, bad)
    assert (
        res.code == 1
        and f'{bad}:2: expected ["<collection>", {{document}}] or {{"commit": true}}' in res.stderr
    )
    res = run_flowctl("preview", "--source", str(cat.path), "--fixture", str(tmp_path / "missing.json"))
    assert res.code == 1 and "cannot read fixture" in res.stderr
    res = preview(cat, bad, "--delay", "1s")
    assert res.code == 2 and "--delay cannot be combined with --fixture" in res.stderr


def test_invalid_documents_name_collection_and_key(make_mat_catalog: MakeMatCatalog, tmp_path: Path) -> None:
    cat = make_mat_catalog()
    res = preview(cat, write_fixture(tmp_path / "f.json", [["acmeCo/users", {"id": 5, "name": 3}]]))
    assert res.code == 1
    assert "document of collection 'acmeCo/users' with key [5] failed validation" in res.stderr


def test_the_flowctl_command_itself(make_mat_catalog: MakeMatCatalog, tmp_path: Path) -> None:
    """The same preview through `python -m flowctl` (stdout a pipe, as tests of connectors run it)."""
    cat = make_mat_catalog()
    fixture = write_fixture(tmp_path / "f.json", FIXTURE)
    res = run_subprocess(
        "preview", "--source", str(cat.path), "--fixture", str(fixture), "--output-state", "--log-json"
    )
    assert res.code == 0, res.stderr
    assert res.stdout.splitlines() == ['["connectorState",{}]'] * 4
    assert all(json.loads(line)["level"] for line in res.stderr.splitlines())
    assert sorted(cat.rows()) == ["[1]", "[3]"]


def test_an_image_materialization_runs_with_docker_run(
    make_mat_catalog: MakeMatCatalog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    docker = bin_dir / "docker"
    docker.write_text(f'#!/bin/sh\nexec {sys.executable} {FIXTURES / "fake_docker.py"} "$@"\n')
    docker.chmod(docker.stat().st_mode | stat.S_IEXEC)
    cat = make_mat_catalog()
    doc = yaml.safe_load(cat.path.read_text())
    endpoint = doc["materializations"][NAME]["endpoint"]
    endpoint["connector"] = {
        "image": "ghcr.io/estuary/materialize-fake:dev",
        "config": endpoint.pop("local")["config"],
    }
    cat.path.write_text(yaml.safe_dump(doc))
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_DOCKER_LOG", str(tmp_path / "docker.jsonl"))
    monkeypatch.setenv("CONTAINER_ENGINE", "docker")
    monkeypatch.setenv("FAKE_DOCKER_PROTOCOL", "materialize")
    monkeypatch.setenv("FAKE_DOCKER_CONNECTOR", "fake_materialize.py")
    res = preview(cat, write_fixture(tmp_path / "f.json", FIXTURE))
    assert res.code == 0, res.stderr
    assert sorted(cat.rows()) == ["[1]", "[3]"]
    runs = [json.loads(line) for line in (tmp_path / "docker.jsonl").read_text().splitlines()]
    assert len(runs) == 3 and runs[0][-1] == "ghcr.io/estuary/materialize-fake:dev"  # validate, apply, open
    monkeypatch.setenv("FAKE_DOCKER_PROTOCOL", "capture")
    res = preview(cat, write_fixture(tmp_path / "f.json", FIXTURE))
    assert res.code == 1 and "but materialization 'acmeCo/to-fake' needs a 'materialize' one" in res.stderr
