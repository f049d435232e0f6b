"""Killed at any point and resumed from what it committed, the capture ends with exactly the
documents of an uninterrupted run (estuary-cdk's crash/resume harness; `make bench` runs it
with many more kills: bench/crash_resume.py)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from estuary_cdk.testing import KillPoint, crash_resume
from estuary_cdk.testing.crash_resume import ConnectorTarget, run_plan

from .test_snapshots import catalog_with

# Fast and paced: a few checkpoints a second (one per pacing window), a short backfill first.
CONFIG = {"rate": 1000, "count": 1500, "history": 150, "page_size": 50}


def test_killed_connector_resumes_without_losing_or_repeating_a_greeting(tmp_path: Path) -> None:
    report = crash_resume(catalog_with(tmp_path, **CONFIG), kills=2, seed=16, idle=1.0, compare="documents")
    report.check()
    assert report.kills >= 1, report.summary()  # a run that catches up before its kill point ends the plan
    assert report.union_keys == 1500 + 8  # the greetings and the languages table


def test_kills_at_each_kind_of_point(tmp_path: Path) -> None:
    """Every kind of kill, in the backfill and in the incremental stream."""
    target = ConnectorTarget.from_catalog(catalog_with(tmp_path, **CONFIG), idle=1.0)
    kills = [
        KillPoint("document", 30),
        KillPoint("time", 0.3),
        KillPoint("checkpoint", 2),
        KillPoint("blocked", 1),
    ]
    report = run_plan(target, kills, compare="documents")
    report.check()
    assert report.kills == 4
    assert "backfill" in report.runs[0].end_state["bindingStateV1"]["greetings"]  # killed mid-backfill


def test_flowctl_crash_test_kills_preview_and_resumes_it(tmp_path: Path) -> None:
    catalog = catalog_with(tmp_path, **CONFIG)
    options = ["--target", "preview", "--kills", "2", "--seed", "3", "--caught-up-idle", "1s", "--json"]
    proc = subprocess.run(
        ["flowctl", "crash-test", "--source", str(catalog), *options],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    figures = json.loads(proc.stdout)
    assert figures["ok"] and figures["documents_lost"] == 0 and figures["kills"] >= 1
    assert figures["keys"] == figures["baseline_keys"] == 1508
    assert figures["problems"] == []  # no connector outlived its killed flowctl
