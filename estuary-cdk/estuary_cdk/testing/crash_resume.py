"""Crash/resume harness: proof that a capture loses nothing when it is killed.

Runs a catalog's capture once without interruption (the baseline), then again from the start,
killing it with SIGKILL at many points (right after a checkpoint, in the middle of a checkpoint
sequence, after a random time, while it is blocked writing) and resuming each time from the
state reduced from the checkpoints it committed, until it is caught up. Then it checks that
the union of committed documents equals the baseline's by key, that nothing committed was lost,
that no cursor went backwards and that documents come twice only when a killed run had not
committed them (see `_crash_check`).

In a connector's tests (the fake API serving in a thread, the catalog pointing at it):

    from estuary_cdk.testing import crash_resume

    def test_survives_kills(catalog: Path) -> None:
        report = crash_resume(catalog, kills=3, seed=1)               # the connector process
        report.check()
        crash_resume(catalog, kills=2, seed=2, target="preview").check()   # flowctl preview

From the command line (also `flowctl crash-test`, which runs this in the connector's Python):

    python -m estuary_cdk.testing.crash_resume --source test.flow.yaml --kills 20 --seed 7

Targets: `"connector"` runs the connector process with the harness as its runtime (flowctl
builds the Open request from the catalog); `"preview"` runs `flowctl preview --initial-state
@FILE --output-state @FILE --until-caught-up` and kills flowctl itself. A capture is caught up
when no backfill is in progress and no document came for `idle` seconds (or it exited).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import orjson

from ._crash_check import AllowRedelivery, CrashReport, check_runs
from ._crash_plan import KILL_KINDS, BaselineSize, KillKind, KillPoint, plan_kills
from ._crash_runs import ConnectorTarget, CrashHarnessError, PreviewTarget, RunRecord, Target

__all__ = [
    "KILL_KINDS",
    "ConnectorTarget",
    "CrashHarnessError",
    "CrashReport",
    "KillPoint",
    "PreviewTarget",
    "RunRecord",
    "crash_resume",
    "main",
    "run_plan",
]

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


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m estuary_cdk.testing.crash_resume",
        description="Kill a catalog's capture with SIGKILL at many points, resume it each time from "
        "what it committed, and check that nothing was lost (see the module docstring).",
    )
    p.add_argument("--source", required=True, help="catalog file (test.flow.yaml)")
    p.add_argument("--name", help="the capture (when the catalog has several)")
    p.add_argument("--kills", type=int, default=10, help="how many kills (default 10)")
    p.add_argument("--seed", type=int, default=0, help="seed of the kill positions")
    p.add_argument(
        "--target",
        choices=("connector", "preview", "both"),
        default="both",
        help="what is killed (default both)",
    )
    p.add_argument(
        "--kinds", default=",".join(KILL_KINDS), help=f"kill kinds (default {','.join(KILL_KINDS)})"
    )
    p.add_argument(
        "--idle", type=float, default=2.0, help="seconds without a document that count as caught up"
    )
    p.add_argument("--max-seconds", type=float, default=300.0, help="bound of each run (default 300)")
    p.add_argument("--compare", choices=("keys", "documents"), default="keys")
    p.add_argument(
        "--flowctl", help='the flowctl command as a JSON list (default: ["<python>", "-m", "flowctl"])'
    )
    p.add_argument("--json", action="store_true", help="print the figures as one JSON object per target")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    flowctl = orjson.loads(args.flowctl) if args.flowctl else None
    targets: list[TargetName] = ["connector", "preview"] if args.target == "both" else [args.target]
    failed = False
    for name in targets:
        try:
            report = crash_resume(
                args.source,
                kills=args.kills,
                seed=args.seed,
                target=name,
                capture=args.name,
                kinds=kinds,
                idle=args.idle,
                max_seconds=args.max_seconds,
                compare=args.compare,
                flowctl=flowctl,
            )
        except CrashHarnessError as err:
            sys.stderr.write(f"error: {err}\n")
            return 1
        except ValueError as err:  # e.g. an unknown kill kind
            sys.stderr.write(f"error: {err}\n")
            return 2
        failed = failed or not report.ok
        if args.json:
            sys.stdout.write(orjson.dumps(figures(report)).decode() + "\n")
        else:
            sys.stdout.write(report.summary() + "\n")
    return 1 if failed else 0


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


if __name__ == "__main__":
    sys.exit(main())
