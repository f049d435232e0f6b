"""`flowctl run`: the fake capture and the fake materialization through the local data plane,
including a run killed with SIGKILL and restarted."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from .conftest import FAKE, FAKE_MATERIALIZE, run_flowctl

SCHEMA = {
    "type": "object",
    "properties": {"id": {"type": "integer"}, "n": {"type": "integer"}, "name": {"type": "string"}},
    "required": ["id"],
}


def pipeline_catalog(
    root: Path, capture_config: dict[str, Any], mat_config: dict[str, Any] | None = None
) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    catalog = {
        "collections": {
            "acmeCo/users": {"schema": SCHEMA, "key": ["/id"]},
            "acmeCo/events": {"schema": SCHEMA, "key": ["/id"]},
        },
        "captures": {
            "acmeCo/source-fake": {
                "endpoint": {"local": {"command": [sys.executable, str(FAKE)], "config": capture_config}},
                "bindings": [
                    {"resource": {"name": "users"}, "target": "acmeCo/users"},
                    {"resource": {"name": "events"}, "target": "acmeCo/events"},
                ],
                "interval": "1s",
            }
        },
        "materializations": {
            "acmeCo/to-fake": {
                "endpoint": {
                    "local": {
                        "command": [sys.executable, str(FAKE_MATERIALIZE)],
                        "config": {"path": str(root / "dest.sqlite"), **(mat_config or {})},
                        "env": {"FAKE_RECORD": str(root / "mat-requests.jsonl")},
                    }
                },
                "bindings": [
                    {"resource": {"table": "users"}, "source": "acmeCo/users"},
                    {"resource": {"table": "events", "delta_updates": True}, "source": "acmeCo/events"},
                ],
            }
        },
    }
    path = root / "flow.yaml"
    path.write_text(yaml.safe_dump(catalog, sort_keys=False))
    return path


def query(db: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return list(conn.execute(sql))


def destination(root: Path) -> dict[str, Any]:
    """The destination's content, without what depends on when documents were captured (their
    UUIDs and publication times)."""
    db = root / "dest.sqlite"
    if not db.exists():
        return {"users": {}, "events": [], "stores": []}
    users = {}
    for key, values, doc in query(db, "SELECT key_json, values_json, doc FROM rows WHERE tbl = 'users'"):
        parsed = json.loads(doc)
        parsed["_meta"].pop("uuid")
        users[key] = (json.loads(values)[1:], parsed)  # values: flow_published_at, n, name
    events = sorted(
        (k, json.loads(v)[1:]) for k, v in query(db, "SELECT key_json, values_json FROM delta_rows")
    )
    stores = query(db, "SELECT tbl, COUNT(*), SUM(exists_) FROM stores GROUP BY tbl ORDER BY tbl")
    return {"users": users, "events": events, "stores": stores}


CAPTURE = {"per_session": 1000, "per_checkpoint": 10, "until": 200, "pause_after_checkpoint": 0.03}


def test_run_until_caught_up_then_resume(tmp_path: Path) -> None:
    source = pipeline_catalog(tmp_path, {"per_session": 30, "per_checkpoint": 10})
    res = run_flowctl("run", "--source", str(source), "--until-caught-up")
    assert res.code == 0, res.stderr
    assert res.stdout.splitlines()[0].startswith(
        "run summary: 60 documents captured (acmeCo/events: 30, acmeCo/users: 30);"
    )
    assert "acmeCo/to-fake: 60 rows stored in" in res.stdout and "(events: 30, users: 30)" in res.stdout
    assert "acmeCo/source-fake: capture transaction 1:" in res.stderr
    assert "acmeCo/to-fake: materialize transaction 1:" in res.stderr
    plane = tmp_path / ".flowctl" / "dataplane.sqlite"
    assert query(plane, "SELECT COUNT(*) FROM journal") == [(0,)]  # everything materialized: pruned
    assert sorted(query(plane, "SELECT collection, head FROM journal_heads")) == [
        ("acmeCo/events", 30),
        ("acmeCo/users", 30),
    ]
    (checkpoint,) = query(plane, "SELECT checkpoint FROM checkpoints")
    assert json.loads(checkpoint[0]) == {
        "sources": {
            "acmeCo/events/pivot=00;materialize/acmeCo/to-fake/events": {"readThrough": "30"},
            "acmeCo/users/pivot=00;materialize/acmeCo/to-fake/users": {"readThrough": "30"},
        }
    }
    first = destination(tmp_path)
    assert sorted(first["users"]) == sorted(f"[{i}]" for i in range(1, 31))
    assert first["users"]["[7]"] == ([70, "users"], {"_meta": {"op": "c"}, "id": 7, "n": 70, "name": "users"})
    assert first["users"] and len(first["events"]) == 30
    # published times come from real v1 UUIDs
    published = query(tmp_path / "dest.sqlite", "SELECT values_json FROM rows LIMIT 1")[0][0]
    assert json.loads(published)[0].endswith("Z") and json.loads(published)[0][:2] == "20"

    # a second run resumes both sides and carries the applied spec as lastMaterialization
    res = run_flowctl("run", "--source", str(source), "--until-caught-up")
    assert res.code == 0, res.stderr
    assert "60 documents captured" in res.stdout
    second = destination(tmp_path)
    assert len(second["users"]) == 60 and len(second["events"]) == 60
    validates = [
        json.loads(line)["request"] for line in (tmp_path / "mat-requests.jsonl").read_text().splitlines()
    ]
    validates = [r["validate"] for r in validates if "validate" in r]
    assert (
        "lastMaterialization" not in validates[0]
        and validates[1]["lastMaterialization"]["name"] == "acmeCo/to-fake"
    )


def _start(source: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "flowctl", "run", "--source", str(source), "--until-caught-up"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_killed_and_restarted_equals_an_uninterrupted_run(tmp_path: Path) -> None:
    whole = pipeline_catalog(tmp_path / "whole", CAPTURE)
    res = run_flowctl("run", "--source", str(whole), "--until-caught-up")
    assert res.code == 0, res.stderr
    expected = destination(tmp_path / "whole")
    assert len(expected["users"]) == 200 and len(expected["events"]) == 200
    assert expected["stores"] == [("events", 200, 0), ("users", 200, 0)]

    killed = pipeline_catalog(tmp_path / "killed", CAPTURE)
    # First killed early in the capture, then (in the restarted run) once a materialization
    # transaction committed: each side is interrupted with work left.
    for marker, partial_check in (("capture transaction 3:", True), ("materialize transaction 1:", False)):
        proc = _start(killed)
        assert proc.stderr is not None and proc.stdout is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line or marker in line:
                break
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        proc.stderr.close()
        proc.stdout.close()
        if partial_check:
            partial = destination(tmp_path / "killed")
            assert len(partial["users"]) + len(partial["events"]) < 400  # it really was interrupted
    res = run_flowctl("run", "--source", str(killed), "--until-caught-up")
    assert res.code == 0, res.stderr
    assert destination(tmp_path / "killed") == expected


def test_sigterm_stops_gracefully_with_a_summary(tmp_path: Path) -> None:
    source = pipeline_catalog(tmp_path, {**CAPTURE, "until": 100000, "pause_after_checkpoint": 0.05})
    proc = subprocess.Popen(
        [sys.executable, "-m", "flowctl", "run", "--source", str(source)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    while True:
        line = proc.stderr.readline()
        assert line, "flowctl run ended before its first materialization transaction"
        if "materialize transaction 1:" in line:
            break
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "stopping (SIGTERM)" in err and "stopped by SIGTERM" in out
    plane = tmp_path / ".flowctl" / "dataplane.sqlite"
    heads = dict(query(plane, "SELECT collection, head FROM journal_heads"))
    (checkpoint,) = query(plane, "SELECT checkpoint FROM checkpoints")
    sources = json.loads(checkpoint[0])["sources"]
    materialized = int(sources["acmeCo/users/pivot=00;materialize/acmeCo/to-fake/users"]["readThrough"])
    assert 0 < materialized <= heads["acmeCo/users"]
    rows = query(tmp_path / "dest.sqlite", "SELECT COUNT(*) FROM rows WHERE tbl = 'users'")[0][0]
    assert rows == materialized  # the destination holds exactly what the checkpoint says


def test_timeout_and_errors(tmp_path: Path) -> None:
    source = pipeline_catalog(tmp_path, {**CAPTURE, "until": 100000})
    started = time.monotonic()
    res = run_flowctl(
        "run", "--source", str(source), "--timeout", "800ms", "--state-dir", str(tmp_path / "st")
    )
    assert res.code == 0, res.stderr
    assert time.monotonic() - started < 20 and "stopped by --timeout" in res.stdout
    assert (tmp_path / "st" / "dataplane.sqlite").exists()
    res = run_flowctl("run", "--source", str(source), "--materialization", "acmeCo/nope")
    assert res.code == 2 and "materialization 'acmeCo/nope' is not in the catalog" in res.stderr
    doc = yaml.safe_load(source.read_text())
    doc["materializations"]["acmeCo/to-fake"]["bindings"] = []
    source.write_text(yaml.safe_dump(doc))
    res = run_flowctl("run", "--source", str(source))
    assert res.code == 2 and "no materialization" in res.stderr


def test_a_failing_materialization_fails_the_run(tmp_path: Path) -> None:
    source = pipeline_catalog(tmp_path, CAPTURE, {"mode": "fail_after_commits", "commits_before_failure": 1})
    res = run_flowctl("run", "--source", str(source), "--until-caught-up")
    assert res.code == 1
    assert "connector failed (exit status 1): failing after 1 commits" in res.stderr
    res = run_flowctl("run", "--source", str(source), "--until-caught-up")  # it fails again, one txn later
    assert res.code == 1


def test_partition_selectors_and_time_bounds(tmp_path: Path) -> None:
    source = pipeline_catalog(tmp_path, {"per_session": 5, "per_checkpoint": 5})
    doc = yaml.safe_load(source.read_text())
    doc["collections"]["acmeCo/users"]["projections"] = {"part": {"location": "/n", "partition": True}}
    doc["materializations"]["acmeCo/to-fake"]["bindings"] = [
        {
            "resource": {"table": "users"},
            "source": {"name": "acmeCo/users", "partitions": {"include": {"part": [10, 30]}}},
        },
        {
            "resource": {"table": "not_these"},
            "source": {"name": "acmeCo/users", "partitions": {"exclude": {"part": [10, 20]}}},
        },
        {
            "resource": {"table": "future"},
            "source": {"name": "acmeCo/events", "notBefore": "2999-01-01T00:00:00Z"},
        },
        {
            "resource": {"table": "past"},
            "source": {"name": "acmeCo/events", "notAfter": "2999-01-01T00:00:00Z"},
        },
    ]
    source.write_text(yaml.safe_dump(doc))
    res = run_flowctl("run", "--source", str(source), "--until-caught-up")
    assert res.code == 0, res.stderr
    counts = dict(
        query(tmp_path / "dest.sqlite", "SELECT tbl, group_concat(key_json) FROM rows GROUP BY tbl")
    )
    assert counts == {"users": "[1],[3]", "not_these": "[3],[4],[5]", "past": "[1],[2],[3],[4],[5]"}

    doc["materializations"]["acmeCo/to-fake"]["bindings"][0]["source"]["partitions"] = {
        "include": {"name": ["x"]}
    }
    source.write_text(yaml.safe_dump(doc))
    res = run_flowctl("run", "--source", str(source), "--until-caught-up")
    assert res.code == 1
    assert (
        "bindings/0/source/partitions/include/name: 'name' is not a partition field of collection 'acmeCo/users'"
        in res.stderr
    )
