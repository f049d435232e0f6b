"""Kills survived and documents lost: estuary-cdk's crash/resume harness against both source
connectors, with many kills (the connectors' own tests use a few).

For each connector and target (the connector process with the harness as its runtime, and
`flowctl preview` killed and resumed from its `--output-state` file), the harness runs the
capture once uninterrupted, then kills it with SIGKILL --kills times (after a checkpoint,
mid-sequence, after a random time, blocked mid-write) and resumes it each time until caught up,
and reports: kills (by kind), kills survived, documents lost, documents committed twice,
cursors gone backwards, processes that outlived a killed flowctl, and the time it took.

* source-hello-world: a paced greetings stream after a short backfill (no network).
* source-hackernews: a backfill of --items ids and two story lists, against its fake API
  (`python -m source_hackernews.fake_api`, started here on a free port).

Each harness runs in its connector's virtualenv (`python -m estuary_cdk.testing.crash_resume`);
this script only orchestrates and prints. `--quick` (make bench): 6 kills per target.

    python bench/crash_resume.py [--kills 40] [--seed 7] [--quick]
"""

# bench-venv: source-hackernews

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
TARGETS = ("connector", "preview")
"""What the harness kills, in the order it runs them (`--target both`)."""


def _venv_python(connector: str) -> Path:
    python = ROOT / connector / ".venv" / "bin" / "python"
    if not python.exists():
        sys.exit(f"{connector}/.venv is missing: run `make install`")
    return python


def _env(connector: str) -> dict[str, str]:
    """The connector's venv first on PATH: the catalogs' `python -m <module>` runs there."""
    env = dict(os.environ)
    env["PATH"] = f"{ROOT / connector / '.venv' / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(ROOT / connector / ".venv")
    return env


def _write_catalog(directory: Path, connector: str, capture: dict) -> Path:
    shutil.copytree(ROOT / connector / "acmeCo", directory / "acmeCo")
    path = directory / "flow.yaml"
    path.write_text(yaml.safe_dump({"import": ["acmeCo/flow.yaml"], "captures": capture}, sort_keys=False))
    return path


def hello_world_catalog(directory: Path) -> Path:
    config = {"rate": 2000, "count": 6000, "history": 400, "page_size": 50}
    return _write_catalog(
        directory,
        "source-hello-world",
        {
            "acmeCo/source-hello-world": {
                "endpoint": {"local": {"command": ["python", "-m", "source_hello_world"], "config": config}},
                "bindings": [
                    {"resource": {"name": "greetings", "interval": "PT0S"}, "target": "acmeCo/greetings"},
                    {"resource": {"name": "languages", "interval": "PT1H"}, "target": "acmeCo/languages"},
                ],
            }
        },
    )


def hackernews_catalog(directory: Path, base_url: str) -> Path:
    config = {"base_url": base_url, "concurrency": 16}
    names = ["items", "askstories", "jobstories"]
    return _write_catalog(
        directory,
        "source-hackernews",
        {
            "acmeCo/source-hackernews": {
                "endpoint": {"local": {"command": ["python", "-m", "source_hackernews"], "config": config}},
                "bindings": [
                    {"resource": {"name": n, "interval": "PT1H"}, "target": f"acmeCo/{n}"} for n in names
                ],
            }
        },
    )


@contextlib.contextmanager
def fake_hackernews(items: int) -> Iterator[str]:
    python = _venv_python("source-hackernews")
    proc = subprocess.Popen(
        [
            str(python),
            "-m",
            "source_hackernews.fake_api",
            "--port",
            "0",
            "--items",
            str(items),
            "--seed",
            "3",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        yield proc.stdout.readline().strip()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def harness(connector: str, catalog: Path, kills: int, seed: int, idle: float) -> list[dict]:
    python = _venv_python(connector)
    argv = [str(python), "-m", "estuary_cdk.testing.crash_resume", "--source", str(catalog)]
    argv += ["--kills", str(kills), "--seed", str(seed), "--target", "both", "--idle", str(idle), "--json"]
    argv += ["--flowctl", json.dumps([str(python), "-m", "flowctl"])]
    proc = subprocess.run(argv, capture_output=True, text=True, env=_env(connector), check=False)
    figures = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    done = {f["target"] for f in figures}
    for target in TARGETS:
        if target not in done:
            # The harness stops at a target it could not run: that is a failed check, never a
            # line left out of the table.
            error = proc.stderr.strip().splitlines()[-1:] or [f"exit status {proc.returncode}"]
            figures.append({"target": target, "failed": error[0], "ok": False})
    return figures


def show(connector: str, figures: list[dict], planned: int) -> None:
    """One line of kills and losses per target, one of sizes; a run that caught up before its
    kill point ends the sequence, so fewer kills than planned can happen."""
    for f in figures:
        if "failed" in f:
            print(f"{connector:19} {f['target']:9} FAILED: {f['failed']}")
            continue
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(f["kills_by_kind"].items()))
        print(
            f"{connector:19} {f['target']:9} kills {f['kills']:3} of {planned} ({kinds}); survived {f['kills_survived']:3}; "
            f"documents lost {f['documents_lost']}; committed twice {f['redelivered']}; "
            f"cursors back {f['cursor_regressions']}; orphans/problems {len(f['problems'])}"
        )
        print(
            f"{'':19} {'':9} {f['keys']} keys (uninterrupted: {f['baseline_keys']}), "
            f"{f['committed_documents']} documents committed over {f['runs']} runs, {f['redone']} re-sent "
            f"from uncommitted tails, {f['cut_lines']} runs cut mid-line, {f['seconds']}s"
        )
        for problem in f["problems"]:
            print(f"{'':19} problem: {problem}")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--kills", type=int, default=40, help="kills per connector and target (default 40)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--items", type=int, default=6000, help="Hacker News ids to backfill (default 6000)")
    parser.add_argument("--quick", action="store_true", help="6 kills per target, 3000 ids")
    args = parser.parse_args()
    kills, items = (6, 3000) if args.quick else (args.kills, args.items)
    started = time.monotonic()
    print(f"crash/resume: {kills} SIGKILLs per connector and target, seed {args.seed}")
    results: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="bench-crash-") as tmp:
        hw = hello_world_catalog(Path(tmp) / "hello")
        figures = harness("source-hello-world", hw, kills, args.seed, idle=1.5)
        show("source-hello-world", figures, kills)
        results += figures
        with fake_hackernews(items) as url:
            hn = hackernews_catalog(Path(tmp) / "hn", url)
            figures = harness("source-hackernews", hn, kills, args.seed, idle=2.0)
            show("source-hackernews", figures, kills)
            results += figures
    total = sum(f.get("kills", 0) for f in results)
    survived = sum(f.get("kills_survived", 0) for f in results)
    lost = sum(f.get("documents_lost", 0) for f in results)
    print(
        f"total: {total} kills, {survived} survived, {lost} documents lost "
        f"({time.monotonic() - started:.0f}s; every check passed: {all(f['ok'] for f in results)})"
    )
    return 0 if all(f["ok"] for f in results) else 1


if __name__ == "__main__":
    sys.exit(main())
