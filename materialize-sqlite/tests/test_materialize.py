"""materialize-sqlite end to end through `flowctl preview --fixture`: tables, rows, deletions,
delta updates, restarts, crashes at every step, and a zombie writer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import CATALOG, Workspace, checkpoint, dump

TESTS = Path(__file__).parent


def test_a_fixture_becomes_tables_and_rows(ws: Workspace, snapshot: Any) -> None:
    run = ws.preview("fixture.materialize.json", "--output-apply", "--output-state")
    assert snapshot("materialize.txt") == run.stdout + dump(ws.db)
    ((name, begin, end, fence, saved),) = checkpoint(ws.db)
    assert (name, begin, end, fence) == ("tests/to-sqlite", 0, 4294967295, 0)
    assert json.loads(saved) == {"sources": {"fixture": {"readThrough": "4"}}}


def test_a_second_run_resumes_after_the_committed_transactions(ws: Workspace) -> None:
    ws.preview()
    first = dump(ws.db)
    again = ws.preview("fixture.materialize.json", "--output-apply", "--output-state")
    # Apply has nothing to do; every fixture transaction is already in the database.
    assert again.stdout == '["applied.actionDescription", ""]\n'
    assert dump(ws.db) == first
    assert checkpoint(ws.db)[0][3] == 1  # the second session bumped the fence


def _crashing(ws: Workspace) -> None:
    def change(doc: dict[str, Any]) -> None:
        local = doc["materializations"]["tests/to-sqlite"]["endpoint"]["local"]
        local["command"] = ["python", "-m", "crashing_sqlite"]
        local["env"] = {"PYTHONPATH": str(TESTS)}

    ws.edit_catalog(change)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The database an uninterrupted run of the fixture leaves (dumped)."""
    reference = Workspace(tmp_path_factory.mktemp("reference"))
    for f in CATALOG.iterdir():
        (reference.dir / f.name).write_bytes(f.read_bytes())
    reference.preview()
    return dump(reference.db)


# Fixture transactions: 1 (empty), 2 (creates), 3 and 4 (empty), 5 (updates, deletes, loads).
@pytest.mark.parametrize(
    "crash_at",
    [
        "load:1",  # staging the keys to load of transaction 2
        "flush:2",  # transaction 2 flushed, before its stores
        "store:1",  # in the middle of transaction 2's stores
        "start_commit:2",  # transaction 2 stored, not committed
        "committed:2",  # transaction 2 committed, its startedCommit never written
        "acknowledge:3",  # transaction 2 committed, acknowledged by the runtime, not by us
    ],
)
def test_a_crash_at_any_step_then_a_restart_equals_an_uninterrupted_run(
    ws: Workspace, uninterrupted: str, crash_at: str
) -> None:
    _crashing(ws)
    crashed = ws.flowctl(
        "preview", "--source", str(ws.catalog), "--fixture", "fixture.materialize.json",
        check=False, env={"CRASH_AT": crash_at},
    )  # fmt: skip
    assert crashed.returncode == 1, crashed.stderr
    assert "connector failed (exit status 1)" in crashed.stderr
    ws.preview()
    assert dump(ws.db) == uninterrupted
