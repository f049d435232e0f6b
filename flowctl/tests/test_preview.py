"""`flowctl preview` end to end against the fake connector."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import MakeCatalog, run_flowctl

PLACEHOLDER = "DocUUIDPlaceholder-329Bb50aa48EAa9ef"


def test_preview_prints_committed_documents_state_and_apply(make_catalog: MakeCatalog) -> None:
    cat = make_catalog()
    res = run_flowctl("preview", "--source", str(cat.path), "--output-state", "--output-apply")
    assert res.code == 0, res.stderr
    raw = res.stdout.splitlines()
    assert raw[0] == '["applied.actionDescription", "would create \\"users, events\\"\\n"]'
    assert (
        raw[1]
        == f'["acmeCo/users",{{"_meta":{{"op":"c","uuid":"{PLACEHOLDER}"}},"id":1,"n":10,"name":"users"}}]'
    )
    docs = [
        line for line in res.lines() if line[0] != "connectorState" and line[0] != "applied.actionDescription"
    ]
    assert [(c, d["id"]) for c, d in docs] == [("acmeCo/users", i) for i in (1, 2, 3)] + [
        ("acmeCo/events", i) for i in (1, 2, 3)
    ]
    states = [line[1] for line in res.lines() if line[0] == "connectorState"]
    assert states[-1] == {"updated": {"bindingStateV1": {"users": {"cursor": 3}, "events": {"cursor": 3}}}}
    assert all(s.get("mergePatch") is True for s in states[:-1]) and states[:-1]
    # the runtime protocol: internal spec first, LOG_LEVEL from shards.logLevel, stateKeys, full range
    opens = cat.requests("open")
    assert len(opens) == 1 and opens[0]["LOG_LEVEL"] == "debug"
    open_ = opens[0]["request"]["open"]
    assert open_["range"] == {"keyEnd": 4294967295, "rClockEnd": 4294967295} and open_["state"] == {}
    assert [b["stateKey"] for b in open_["capture"]["bindings"]] == ["users", "events"]
    assert open_["capture"]["config"] == {"mode": "ok"} and open_["capture"]["connectorType"] == "LOCAL"
    specs = cat.requests("spec")
    assert specs and all(s["request"]["spec"] == {"connectorType": "LOCAL", "config": {}} for s in specs)
    # logs: readable, with the status event marked
    assert "STATUS Capture started." in res.stderr and "resuming" in res.stderr


def test_log_json_prints_canonical_logs(make_catalog: MakeCatalog) -> None:
    res = run_flowctl("preview", "--source", str(make_catalog().path), "--log-json")
    assert res.code == 0, res.stderr
    logs = [json.loads(line) for line in res.stderr.splitlines()]
    status = [log for log in logs if log.get("fields", {}).get("eventType") == "connectorStatus"]
    assert status and status[0]["message"] == "Capture started." and status[0]["level"] == "info"
    assert all(set(log) <= {"ts", "level", "message", "fields"} for log in logs)


def test_sessions_resume_from_reduced_state(make_catalog: MakeCatalog) -> None:
    cat = make_catalog(
        config={"per_session": 2, "per_checkpoint": 1},
        bindings=[{"resource": {"name": "users"}, "target": "acmeCo/users"}],
    )
    res = run_flowctl("preview", "--source", str(cat.path), "--sessions", "-1,-1,-1", "--output-state")
    assert res.code == 0, res.stderr
    ids = [d["id"] for c, d in res.lines() if c == "acmeCo/users"]
    assert ids == [1, 2, 3, 4, 5, 6]
    states = [o["request"]["open"]["state"] for o in cat.requests("open")]
    assert states == [
        {},
        {"bindingStateV1": {"users": {"cursor": 2}}},
        {"bindingStateV1": {"users": {"cursor": 4}}},
    ]
    assert res.lines()[-1] == ["connectorState", {"updated": {"bindingStateV1": {"users": {"cursor": 6}}}}]
    assert len(cat.requests("apply")) == 3


def test_session_ends_after_its_transactions_and_next_resumes(make_catalog: MakeCatalog) -> None:
    """A session of one transaction commits only the sequence ready at its first poll; the
    connector is then stopped and the next session resumes from the committed state."""
    cat = make_catalog(
        config={"per_session": 4, "per_checkpoint": 2, "pause_after_checkpoint": 1.0},
        bindings=[{"resource": {"name": "users"}, "target": "acmeCo/users"}],
    )
    res = run_flowctl("preview", "--source", str(cat.path), "--sessions", "1,1", "--output-state")
    assert res.code == 0, res.stderr
    assert [d["id"] for c, d in res.lines() if c == "acmeCo/users"] == [1, 2, 3, 4]
    states = [o["request"]["open"]["state"] for o in cat.requests("open")]
    assert states == [{}, {"bindingStateV1": {"users": {"cursor": 2}}}]
    assert res.lines()[-1] == ["connectorState", {"updated": {"bindingStateV1": {"users": {"cursor": 4}}}}]


def test_delay_folds_sequences_into_one_transaction(make_catalog: MakeCatalog) -> None:
    config = {"per_session": 4, "per_checkpoint": 2, "pause_after_checkpoint": 0.8}
    bindings = [{"resource": {"name": "users"}, "target": "acmeCo/users"}]
    cat = make_catalog(config=config, bindings=bindings)
    apart = run_flowctl("preview", "--source", str(cat.path), "--output-state")
    assert apart.code == 0, apart.stderr
    # without a delay each sequence is polled on its own: two transactions, two patches
    patches = [s for c, s in apart.lines() if c == "connectorState" and "mergePatch" in s]
    assert [p["updated"]["bindingStateV1"]["users"]["cursor"] for p in patches] == [2, 4]
    folded = run_flowctl("preview", "--source", str(cat.path), "--output-state", "--delay", "2s")
    assert folded.code == 0, folded.stderr
    patches = [s for c, s in folded.lines() if c == "connectorState" and "mergePatch" in s]
    assert [p["updated"]["bindingStateV1"]["users"]["cursor"] for p in patches] == [4]


def test_initial_state_seeds_the_first_session(make_catalog: MakeCatalog) -> None:
    cat = make_catalog(bindings=[{"resource": {"name": "users"}, "target": "acmeCo/users"}])
    res = run_flowctl(
        "preview", "--source", str(cat.path), "--initial-state", '{"bindingStateV1":{"users":{"cursor":10}}}'
    )
    assert res.code == 0, res.stderr
    assert [d["id"] for _, d in res.lines()] == [11, 12, 13]


def test_documents_combine_by_key_within_a_transaction(make_catalog: MakeCatalog) -> None:
    cat = make_catalog(
        config={"duplicates": True, "per_session": 3, "per_checkpoint": 1},
        bindings=[{"resource": {"name": "users"}, "target": "acmeCo/users"}],
    )
    res = run_flowctl("preview", "--source", str(cat.path), "--delay", "5s", "--output-state")
    assert res.code == 0, res.stderr
    docs = [d for c, d in res.lines() if c == "acmeCo/users"]
    # each id was written twice; the later write wins (default reduction), one line per key
    assert [(d["id"], d["n"], d["_meta"]["op"]) for d in docs] == [(1, 11, "u"), (2, 21, "u"), (3, 31, "u")]
    states = [s for c, s in res.lines() if c == "connectorState"]
    assert states[0] == {"updated": {"bindingStateV1": {"users": {"cursor": 3}}}, "mergePatch": True}


def test_reduce_annotations_apply_in_preview(make_catalog: MakeCatalog) -> None:
    schema = {
        "type": "object",
        "reduce": {"strategy": "merge"},
        "properties": {"id": {"type": "integer"}, "n": {"type": "integer", "reduce": {"strategy": "sum"}}},
        "required": ["id"],
    }
    cat = make_catalog(
        config={"duplicates": True, "per_session": 2},
        schema=schema,
        bindings=[{"resource": {"name": "users"}, "target": "acmeCo/users"}],
    )
    res = run_flowctl("preview", "--source", str(cat.path), "--delay", "5s")
    assert res.code == 0, res.stderr
    assert [(d["id"], d["n"]) for _, d in res.lines()] == [(1, 21), (2, 41)]


def test_explicit_acknowledgements_are_sent(make_catalog: MakeCatalog) -> None:
    cat = make_catalog(config={"acks": True, "per_session": 4, "per_checkpoint": 1})
    res = run_flowctl("preview", "--source", str(cat.path))
    assert res.code == 0, res.stderr
    assert "all 8 checkpoints acknowledged" in res.stderr


def test_disabled_bindings_are_left_out(make_catalog: MakeCatalog) -> None:
    cat = make_catalog(
        bindings=[
            {"resource": {"name": "users"}, "target": "acmeCo/users", "disable": True},
            {"resource": {"name": "events"}, "target": "acmeCo/events", "backfill": 2},
        ]
    )
    res = run_flowctl("preview", "--source", str(cat.path))
    assert res.code == 0, res.stderr
    assert {c for c, _ in res.lines()} == {"acmeCo/events"}
    binding = cat.requests("open")[0]["request"]["open"]["capture"]["bindings"]
    assert [(b["resourcePath"], b["stateKey"], b["backfill"]) for b in binding] == [
        (["events"], "events.v2", 2)
    ]


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"mode": "bad_json"}, 'could not parse "{this is not json" into JSON response'),
        ({"mode": "doc_before_opened"}, 'connector protocol error (expected Opened): {"captured":'),
        ({"mode": "no_opened"}, "unexpected connector EOF (expected Opened)"),
        (
            {"mode": "checkpoint_without_state"},
            'connector protocol error (expected Checkpoint with a state): {"checkpoint":{}}',
        ),
        ({"mode": "exit_mid_sequence"}, "unexpected capture connector EOF while within a checkpoint"),
        ({"mode": "partial"}, "connector wrote a partial message and then closed its output"),
        (
            {"mode": "unknown_message"},
            "connector protocol error (expected Captured, SourcedSchema, or Checkpoint)",
        ),
        (
            {"mode": "open_sourced_schema"},
            "connector implementation error: binding 0 SourcedSchema has errors",
        ),
        ({"mode": "fail"}, "connector failed (exit status 1): boom: the source API returned 500"),
        ({"mode": "fail_validate"}, "connector failed (exit status 1): invalid credentials for the fake API"),
        ({"mode": "dup_paths"}, 'have the same resource path ["same"]'),
        ({"mode": "empty_path"}, "connector returned an empty or invalid resource path []"),
    ],
)
def test_broken_connectors_fail_the_run(
    make_catalog: MakeCatalog, config: dict[str, str], message: str
) -> None:
    res = run_flowctl("preview", "--source", str(make_catalog(config=config).path))
    assert res.code == 1
    assert message in res.stderr, res.stderr
    assert "error: " in res.stderr


def test_connector_failing_without_logs_says_so(make_catalog: MakeCatalog) -> None:
    silent = {"local": {"command": [sys.executable, "-c", "import sys; sys.exit(3)"]}}
    res = run_flowctl("preview", "--source", str(make_catalog(extra_capture={"endpoint": silent}).path))
    assert res.code == 1
    assert "connector failed (exit status 3): connector exited with no log output" in res.stderr, res.stderr


def test_protocol_errors_show_the_last_error_line(make_catalog: MakeCatalog) -> None:
    res = run_flowctl("preview", "--source", str(make_catalog(config={"mode": "bad_json"}).path))
    assert res.code == 1
    assert res.stderr.rstrip().endswith("connector's last error line: upstream returned garbage")


def test_exit_mid_sequence_discards_pending_documents(make_catalog: MakeCatalog) -> None:
    cat = make_catalog(config={"mode": "exit_mid_sequence", "per_checkpoint": 5})
    res = run_flowctl("preview", "--source", str(cat.path))
    assert res.code == 1
    assert res.stdout == ""  # the two pending documents were never committed
    assert "connector's last error line: leaving in the middle of a sequence" in res.stderr


def test_schema_violation_names_collection_key_and_path(make_catalog: MakeCatalog) -> None:
    cat = make_catalog(
        config={"invalid_id": 2}, bindings=[{"resource": {"name": "users"}, "target": "acmeCo/users"}]
    )
    res = run_flowctl("preview", "--source", str(cat.path))
    assert res.code == 1
    assert "document of collection 'acmeCo/users' with key [2] failed validation" in res.stderr
    assert "at /n (schema path /properties/n/type)" in res.stderr


def test_timeout_ends_a_quiet_session(make_catalog: MakeCatalog) -> None:
    """The quiet connector never exits by itself: only --timeout ends its session."""
    from .conftest import FIXTURES

    cat = make_catalog(bindings=[{"resource": {"name": "users"}, "target": "acmeCo/users"}])
    text = cat.path.read_text().replace(
        str(FIXTURES / "fake_connector.py"), str(FIXTURES / "quiet_connector.py")
    )
    cat.path.write_text(text)
    res = run_flowctl("preview", "--source", str(cat.path), "--timeout", "1s", "--output-state")
    assert res.code == 0, res.stderr
    assert [d["id"] for c, d in res.lines() if c == "acmeCo/users"] == [1]


def test_image_connector_without_any_engine_is_a_clear_error(tmp_path: Path) -> None:
    root = tmp_path
    (root / "flow.yaml").write_text(
        """collections:
  acmeCo/users: {schema: {type: object, properties: {id: {type: integer}}, required: [id]}, key: [/id]}
captures:
  acmeCo/source-x:
    endpoint: {connector: {image: ghcr.io/estuary/source-x:dev, config: {}}}
    bindings: [{resource: {name: users}, target: acmeCo/users}]
"""
    )
    res = run_flowctl(
        "preview",
        "--source",
        str(root / "flow.yaml"),
        env={"PATH": str(root), "DOCKER_HOST": "unix:///nonexistent.sock"},
    )
    assert res.code == 1
    assert (
        "capture 'acmeCo/source-x' uses the image connector 'ghcr.io/estuary/source-x:dev', which needs a "
        "container engine, but none can run it (docker: the `docker` command is not installed; podman: not "
        "installed; buildah: not installed)"
    ) in res.stderr, res.stderr


def test_output_to_a_pipe_shared_with_stderr(make_catalog: MakeCatalog) -> None:
    """`flowctl preview 2>&1 | ...`: documents and logs interleave on one pipe without errors."""
    cat = make_catalog(config={"per_session": 500, "per_checkpoint": 50})
    proc = subprocess.run(
        [sys.executable, "-m", "flowctl", "preview", "--source", str(cat.path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-2000:]
    docs = [line for line in proc.stdout.splitlines() if line.startswith(b'["acmeCo/')]
    assert len(docs) == 1000 and b"STATUS Capture started." in proc.stdout


def test_materializations_are_named_as_unsupported(make_catalog: MakeCatalog) -> None:
    import yaml

    cat = make_catalog()
    doc = yaml.safe_load(cat.path.read_text())
    doc["materializations"] = {
        "acmeCo/to-sqlite": {"endpoint": {"connector": {"image": "x", "config": {}}}, "bindings": []}
    }
    cat.path.write_text(yaml.safe_dump(doc))
    res = run_flowctl("preview", "--source", str(cat.path), "--name", "acmeCo/to-sqlite")
    assert res.code == 2 and "is a materialization: preview it with --fixture" in res.stderr


def _image_catalog(root: Path, record: Path) -> Path:
    from .conftest import FIXTURES

    bin_dir = root / "bin"
    bin_dir.mkdir()
    docker = bin_dir / "docker"
    docker.write_text(f'#!/bin/sh\nexec {sys.executable} {FIXTURES / "fake_docker.py"} "$@"\n')
    docker.chmod(docker.stat().st_mode | stat.S_IEXEC)
    (root / "flow.yaml").write_text(
        """collections:
  acmeCo/users: {schema: {type: object, properties: {id: {type: integer}}, required: [id]}, key: [/id]}
captures:
  acmeCo/source-x:
    endpoint: {connector: {image: "ghcr.io/estuary/source-x:dev", config: {per_session: 2}}}
    bindings: [{resource: {name: users}, target: acmeCo/users}]
    shards: {logLevel: debug}
"""
    )
    return bin_dir


def test_image_connector_runs_with_docker_run(tmp_path: Path) -> None:
    import os

    log = tmp_path / "docker.jsonl"
    bin_dir = _image_catalog(tmp_path, log)
    env = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "FAKE_DOCKER_LOG": str(log),
        "FAKE_RECORD": str(tmp_path / "requests.jsonl"),
        "CONTAINER_ENGINE": "docker",
    }
    res = run_flowctl("preview", "--source", str(tmp_path / "flow.yaml"), "--network", "flow-test", env=env)
    assert res.code == 0, res.stderr
    assert [d["id"] for _, d in res.lines()] == [1, 2]
    runs = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(runs) == 3  # validate, apply, open: one container per RPC, none killed (no `rm`)
    names = [run[run.index("--name") + 1] for run in runs]
    assert len(set(names)) == 3 and all(n.startswith("flowctl-") for n in names)
    assert runs[0] == [
        "run",
        "-i",
        "--rm",
        "--name",
        names[0],
        "--network=flow-test",
        "--env=LOG_FORMAT=json",
        "--env=LOG_LEVEL=debug",
        f"--volume={tmp_path.resolve()}:{tmp_path.resolve()}",  # the catalog's directory, same path
        "ghcr.io/estuary/source-x:dev",
    ]
    records = [json.loads(line) for line in (tmp_path / "requests.jsonl").read_text().splitlines()]
    assert records[0]["request"] == {"spec": {"connectorType": "IMAGE", "config": {}}}
    opened = [r["request"]["open"] for r in records if "open" in r["request"]]
    assert (
        opened[0]["capture"]["config"] == {"per_session": 2}
        and opened[0]["capture"]["connectorType"] == "IMAGE"
    )


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        (
            "down",
            "and CONTAINER_ENGINE=docker, but no Docker engine answers (Cannot connect to the Docker daemon",
        ),
        ("nocodec", "the image speaks the protobuf codec"),
        (
            "materialize",
            "the image is a 'materialize' connector (FLOW_RUNTIME_PROTOCOL), but capture 'acmeCo/source-x' needs a 'capture' one",
        ),
    ],
)
def test_image_connector_errors(tmp_path: Path, mode: str, message: str) -> None:
    import os

    log = tmp_path / "docker.jsonl"
    bin_dir = _image_catalog(tmp_path, log)
    env = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "FAKE_DOCKER_LOG": str(log),
        "FAKE_DOCKER_MODE": mode,
        "FAKE_DOCKER_PROTOCOL": "materialize" if mode == "materialize" else "capture",
        "CONTAINER_ENGINE": "docker",
    }
    res = run_flowctl("preview", "--source", str(tmp_path / "flow.yaml"), env=env)
    assert res.code == 1
    assert message in res.stderr, res.stderr
    assert not log.exists()  # no container was started


def test_stdout_closed_early_ends_quietly(make_catalog: MakeCatalog) -> None:
    """`flowctl preview | head -1`: no traceback, exit 0, the connector is stopped."""
    cat = make_catalog(config={"per_session": 50000, "per_checkpoint": 1000})
    proc = subprocess.Popen(
        [sys.executable, "-m", "flowctl", "preview", "--source", str(cat.path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 0
    assert first.startswith(b'["acmeCo/users",') and "Traceback" not in err


def test_acknowledgements_not_read_fail_the_session(
    make_catalog: MakeCatalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In process, with a short delivery limit: a connector that requested acknowledgements but
    stops reading stdin fails the session, as the runtime's 10 s limit does."""
    import asyncio
    import io

    from flowctl.catalog import load_catalog
    from flowctl.errors import ConnectorError
    from flowctl.output import Output
    from flowctl.preview import PreviewOptions, run_preview

    monkeypatch.setattr("flowctl.session.ACK_TIMEOUT_SECONDS", 0.5)
    cat = make_catalog(
        config={"mode": "acks_ignored"}, bindings=[{"resource": {"name": "users"}, "target": "acmeCo/users"}]
    )
    catalog = load_catalog(cat.path)
    sink = io.BytesIO()
    with pytest.raises(
        ConnectorError, match="connector requested acknowledgements but is not processing its input"
    ):
        asyncio.run(
            run_preview(catalog, catalog.capture(None), PreviewOptions(), lambda log: None, Output(sink))
        )
    assert sink.getvalue().count(b"\n") == 0  # no --output-state: nothing printed
