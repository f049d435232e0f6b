"""The crash/resume harness's entry points (`crash_resume`, `run_plan`), documented in the public
module `estuary_cdk.testing.crash_resume`, which is also its command line."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

from ._crash_check import AllowRedelivery, CrashReport, check_runs
from ._crash_plan import KILL_KINDS, BaselineSize, KillKind, KillPoint, plan_kills
from ._crash_runs import ConnectorTarget, PreviewTarget, RunRecord, Target

__all__ = ["crash_resume", "figures", "run_plan"]

TargetName = Literal["connector", "preview"]


def run_plan(
    target: Target,
    kills: Sequence[KillPoint],
    initial_state: dict[str, Any] | None = None,
    baseline: RunRecord | None = None,
    compare: str = "keys",
    allow_redelivery: AllowRedelivery | None = None,
    reset: Callable[[], None] | None = None,
) -> CrashReport:
    """Run `target` with the given kill points (each run resuming from what the one before
    committed) until caught up, and check the runs against `baseline` (run first when None)."""
    start = dict(initial_state or {})
    if baseline is None:
        if reset is not None:
            reset()
        baseline = target.run(0, start, None)
    if reset is not None:
        reset()
    runs: list[RunRecord] = []
    state = start
    for kill in kills:
        run = target.run(len(runs) + 1, state, kill)
        runs.append(run)
        state = run.end_state
        if not run.killed:
            break  # caught up before its kill point: nothing left to kill
    if not runs or runs[-1].killed:
        runs.append(target.run(len(runs) + 1, state, None))
    return check_runs(target.name, baseline, runs, target.collection_keys, compare, allow_redelivery)


def crash_resume(
    source: str | Path,
    *,
    kills: int = 5,
    seed: int = 0,
    target: TargetName = "connector",
    capture: str | None = None,
    kinds: Sequence[KillKind] = KILL_KINDS,
    idle: float = 2.0,
    max_seconds: float = 120.0,
    initial_state: dict[str, Any] | None = None,
    compare: str = "keys",
    allow_redelivery: AllowRedelivery | None = None,
    reset: Callable[[], None] | None = None,
    flowctl: Sequence[str] | None = None,
) -> CrashReport:
    """Kill the capture of the catalog `source` `kills` times (positions drawn from `seed`,
    kinds from `kinds`) and resume it each time; returns the report (`.check()` asserts).

    `idle`: seconds without a document that count as caught up. `max_seconds`: bound of each
    run. `compare="documents"`: also each key's last document must equal the baseline's (for
    deterministic sources). `allow_redelivery(collection, doc)`: documents the connector
    re-sends on purpose after a restart. `reset()`: called before the baseline and before the
    crash runs (e.g. to put a fake API back in its initial state). `flowctl`: the command
    for the preview target (default: this Python's `-m flowctl`)."""
    tgt: Target
    if target == "connector":
        tgt = ConnectorTarget.from_catalog(source, capture, idle=idle, max_seconds=max_seconds)
    elif target == "preview":
        tgt = PreviewTarget(source, capture, flowctl=flowctl, idle=idle, max_seconds=max_seconds)
    else:
        raise ValueError(f"target must be 'connector' or 'preview', not {target!r}")
    if reset is not None:
        reset()
    baseline = tgt.run(0, dict(initial_state or {}), None)
    size = BaselineSize(len(baseline.committed), baseline.committed_documents, baseline.seconds)
    plan = plan_kills(kills, seed, size, kinds)
    return run_plan(tgt, plan, initial_state, baseline, compare, allow_redelivery, reset)


def figures(report: CrashReport) -> dict[str, Any]:
    """The report's numbers, for benchmarks and `--json`."""
    return {
        "target": report.target,
        "kills": report.kills,
        "kills_by_kind": dict(report.kills_by_kind),
        "kills_survived": report.kills_survived,
        "documents_lost": len(report.lost),
        "unexpected": len(report.unexpected),
        "redelivered": len(report.redelivered),
        "redone": report.redone,
        "cursor_regressions": len(report.cursor_regressions),
        "problems": report.problems,
        "committed_documents": report.committed_documents,
        "keys": report.union_keys,
        "baseline_keys": report.baseline_keys,
        "runs": len(report.runs),
        "cut_lines": report.cut_lines,
        "seconds": round(sum(r.seconds for r in report.runs), 1),
        "ok": report.ok,
    }
