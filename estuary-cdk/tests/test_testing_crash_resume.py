"""The crash/resume harness (estuary_cdk.testing.crash_resume) against a counting connector
that can be wrong on purpose: a correct one survives every kind of kill, and each way of losing
or repeating work is caught and named."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from estuary_cdk.testing import KillPoint, crash_resume
from estuary_cdk.testing._crash_plan import KILL_KINDS, BaselineSize, plan_kills
from estuary_cdk.testing.crash_resume import ConnectorTarget, PreviewTarget, main, run_plan

COUNTER = Path(__file__).parent / "crash_fixtures" / "counter_connector.py"
MIXED = [
    KillPoint("checkpoint", 3),
    KillPoint("document", 7),
    KillPoint("time", 0.15),
    KillPoint("blocked", 2),
]


def catalog(tmp_path: Path, **config: Any) -> Path:
    doc = {
        "collections": {
            "acmeCo/counts": {
                "schema": {"type": "object", "properties": {"id": {"type": "integer"}}, "required": ["id"]},
                "key": ["/id"],
            }
        },
        "captures": {
            "acmeCo/counter": {
                "endpoint": {
                    "local": {
                        "command": [sys.executable, str(COUNTER)],
                        "config": {"total": 120, "per_checkpoint": 5, "pause": 0.01, **config},
                    }
                },
                "bindings": [{"resource": {"name": "counts"}, "target": "acmeCo/counts"}],
            }
        },
    }
    path = tmp_path / "flow.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_a_correct_connector_survives_every_kind_of_kill(tmp_path: Path) -> None:
    target = ConnectorTarget.from_catalog(catalog(tmp_path), idle=0.4)
    report = run_plan(target, MIXED)
    report.check()
    assert report.kills == 4 and set(report.kills_by_kind) == set(KILL_KINDS)
    assert report.union_keys == report.baseline_keys == 120
    assert report.runs[-1].ended == "caught up"
    # each run resumed from the last state its predecessor committed
    for before, after in zip(report.runs, report.runs[1:], strict=False):
        assert after.start_state == before.end_state
    assert report.runs[0].end_state == {"cursor": 15} and len(report.runs[0].committed) == 3
    assert report.redone > 0, "a killed run's uncommitted tail is sent again"


def test_explicit_acknowledgements_are_given_and_the_run_ends_when_the_connector_exits(
    tmp_path: Path,
) -> None:
    target = ConnectorTarget.from_catalog(catalog(tmp_path, mode="acks", exit=True), idle=0.4)
    report = run_plan(target, [KillPoint("checkpoint", 3), KillPoint("document", 12), KillPoint("time", 0.1)])
    report.check()
    assert report.kills == 3 and report.runs[-1].ended == "exited"
    seeded = crash_resume(catalog(tmp_path, mode="acks", exit=True), kills=3, seed=5, idle=0.4)
    seeded.check()
    assert seeded.kills >= 1


def test_flowctl_preview_is_killed_and_resumed_from_its_state_file(tmp_path: Path) -> None:
    target = PreviewTarget(catalog(tmp_path, exit=True, pause=0.02), idle=0.5)
    report = run_plan(target, [KillPoint("checkpoint", 4), KillPoint("time", 0.3)])
    report.check()
    assert report.kills == 2 and report.problems == []
    assert report.runs[0].end_state["cursor"] >= 15


def test_a_cursor_ahead_of_its_documents_loses_them_and_is_reported(tmp_path: Path) -> None:
    target = ConnectorTarget.from_catalog(catalog(tmp_path, mode="cursor_ahead"), idle=0.4)
    report = run_plan(target, [KillPoint("checkpoint", 2)])
    assert report.lost == [("acmeCo/counts", f"[{n}]") for n in sorted(range(11, 16), key=lambda n: f"[{n}]")]
    with pytest.raises(AssertionError, match=r"5 lost \(in the uninterrupted run, never committed\)"):
        report.check()
    assert report.kills_survived == 0


def test_a_document_committed_again_after_a_restart_is_a_redelivery(tmp_path: Path) -> None:
    target = ConnectorTarget.from_catalog(catalog(tmp_path, mode="resend"), idle=0.4)
    report = run_plan(target, [KillPoint("checkpoint", 2)])
    assert report.redelivered == [("acmeCo/counts", "[10]")] and report.lost == []
    with pytest.raises(AssertionError, match="redelivered"):
        report.check()
    # a connector that re-sends on purpose says which documents
    allowed = run_plan(target, [KillPoint("checkpoint", 2)], allow_redelivery=lambda c, d: d["id"] == 10)
    allowed.check()


def test_a_cursor_moving_back_is_reported(tmp_path: Path) -> None:
    target = ConnectorTarget.from_catalog(catalog(tmp_path, mode="backwards"), idle=0.4)
    report = run_plan(target, [KillPoint("checkpoint", 2)])
    assert report.cursor_regressions == ["run 2 in transaction 1: /cursor 10 -> 9"]
    assert not report.ok


def test_kill_plans_are_seeded_and_spread_over_the_baseline() -> None:
    size = BaselineSize(checkpoints=100, documents=5000, seconds=10.0)
    plan = plan_kills(8, 7, size)
    assert plan == plan_kills(8, 7, size) and plan != plan_kills(8, 8, size)
    assert {p.kind for p in plan} == set(KILL_KINDS)
    for point in plan:
        limit = {"time": 10.0 * 2 / 9, "document": 5000 * 2 / 9}.get(point.kind, 100 * 2 / 9)
        assert 0 < point.at <= limit
    with pytest.raises(ValueError, match="kill kinds"):
        plan_kills(2, 1, size, ["sometimes"])  # type: ignore[list-item]


def test_the_command_line_prints_the_figures(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "--source",
            str(catalog(tmp_path)),
            "--kills",
            "2",
            "--target",
            "connector",
            "--idle",
            "0.4",
            "--json",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert '"kills":2' in out and '"documents_lost":0' in out and '"ok":true' in out
