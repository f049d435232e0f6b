"""materialize-postgres end to end through `flowctl preview --fixture`: DDL, tables and rows
(standard and delta bindings, hard deletes, hostile names, every data type), a resumed run, and a
crash at every step followed by a restart."""

from __future__ import annotations

import json
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import TASK, Workspace, new_workspace
from estuary_cdk.testing.postgres import PostgresServer

TESTS = Path(__file__).parent


@dataclass
class Reference:
    """One uninterrupted run of the fixture, shared by the tests that compare with it."""

    stdout: str
    dump: str
    checkpoints: list[tuple[Any, ...]]


@pytest.fixture(scope="session")
def reference(tmp_path_factory: pytest.TempPathFactory, postgres_server: PostgresServer) -> Reference:
    ws = new_workspace(tmp_path_factory.mktemp("reference"), postgres_server)
    run = ws.preview("fixture.materialize.json", "--output-apply", "--output-state")
    return Reference(run.stdout, ws.dump(), ws.checkpoints())


def test_a_fixture_becomes_tables_and_rows(reference: Reference, snapshot: Any) -> None:
    assert snapshot("materialize.txt") == reference.stdout + reference.dump
    ((name, begin, end, fence, saved),) = reference.checkpoints
    assert (name, begin, end, fence) == (TASK, 0, 4294967295, 0)
    assert json.loads(saved) == {"sources": {"fixture": {"readThrough": "4"}}}


def test_rows_hold_what_the_documents_said(reference: Reference) -> None:
    """Spot checks that do not depend on reading the snapshot: deletions, updates, delta rows,
    values that need care (NUL, quotes, numbers beyond 64 bits, binary keys)."""
    dump = reference.dump
    simple = dump.split('Table: ["public", "simple"]')[1].split("Table:")[0]
    assert '"id":1,' not in simple and '"id":6,' not in simple and '"id":7,' not in simple  # hard deleted
    assert '"canary":"updated twice"' in simple and '"val":31' in simple
    delta = dump.split('Table: ["public", "simple_delta"]')[1].split("Table:")[0]
    assert delta.count('"id":2,') == 2  # one row per transaction's combined document
    assert '"unsignedBigint":18446744073709551615' in dump
    assert '"intString":123456789012345678901234567890' in dump
    assert "withnul and 'quote'" in dump  # NUL dropped from text, kept (escaped) in the document
    assert '"binaryKey":"\\\\x010203"' in dump


def test_a_second_run_resumes_after_the_committed_transactions(ws: Workspace, reference: Reference) -> None:
    ws.preview()
    first = ws.dump()
    assert first == reference.dump
    again = ws.preview("fixture.materialize.json", "--output-apply", "--output-state")
    # Apply has nothing to do; every fixture transaction is already in the database.
    assert again.stdout == '["applied.actionDescription", ""]\n'
    assert ws.dump() == first
    assert ws.checkpoints()[0][3] == 1  # the second session bumped the fence


def _crashing(ws: Workspace) -> None:
    def change(doc: dict[str, Any]) -> None:
        local = doc["materializations"][TASK]["endpoint"]["local"]
        local["command"] = ["python", "-m", "crashing_postgres"]
        local["env"] = {"PYTHONPATH": str(TESTS)}

    ws.edit_catalog(change)


CRASH_POINTS = [
    "load:1",  # staging the first transaction's keys
    "flush:2",
    "store:1",  # stores gathered, nothing committed
    "start_commit:2",  # stores written in the open transaction, not committed
    "committed:2",  # committed, but the runtime never heard of it
    "acknowledge:4",  # before the acknowledgement of the last commit
]


@dataclass
class CrashRun:
    crashed: subprocess.CompletedProcess[str]
    dump: str
    checkpoints: list[tuple[Any, ...]]


def _crash_then_restart(ws: Workspace, crash_at: str) -> CrashRun:
    _crashing(ws)
    crashed = ws.preview(check=False, env={"CRASH_AT": crash_at})
    ws.preview()
    return CrashRun(crashed, ws.dump(), ws.checkpoints())


@pytest.fixture(scope="session")
def crash_runs(
    tmp_path_factory: pytest.TempPathFactory, postgres_server: PostgresServer
) -> dict[str, CrashRun]:
    """Every crash case, each in its own database, run side by side (they share nothing but the
    server), so that the suite waits for the slowest rather than for all of them in turn."""
    workspaces = {c: new_workspace(tmp_path_factory.mktemp("crash"), postgres_server) for c in CRASH_POINTS}
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = {c: pool.submit(_crash_then_restart, ws, c) for c, ws in workspaces.items()}
        return {c: f.result() for c, f in futures.items()}


@pytest.mark.parametrize("crash_at", CRASH_POINTS)
def test_a_crash_at_any_step_then_a_restart_equals_an_uninterrupted_run(
    crash_runs: dict[str, CrashRun], reference: Reference, crash_at: str
) -> None:
    run = crash_runs[crash_at]
    assert run.crashed.returncode == 1, run.crashed.stderr
    assert "connector failed (exit status 1)" in run.crashed.stderr
    assert run.dump == reference.dump
    ((*_, saved),) = run.checkpoints
    assert json.loads(saved) == {"sources": {"fixture": {"readThrough": "4"}}}
