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
from collections.abc import Sequence

import orjson

from ._crash_check import CrashReport
from ._crash_plan import KILL_KINDS, KillPoint
from ._crash_resume import TargetName, crash_resume, figures, run_plan
from ._crash_runs import ConnectorTarget, CrashHarnessError, PreviewTarget, RunRecord

__all__ = [
    "KILL_KINDS",
    "ConnectorTarget",
    "CrashHarnessError",
    "CrashReport",
    "KillPoint",
    "PreviewTarget",
    "RunRecord",
    "crash_resume",
    "figures",
    "main",
    "run_plan",
]


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


if __name__ == "__main__":
    sys.exit(main())
