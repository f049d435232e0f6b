"""Run every benchmark in bench/ (quick mode by default) and print their figures.

Each benchmark is a script `bench/<name>.py` that prints its own figures. It runs in the
virtualenv of the package it measures: named by a `# bench-venv: <package>` line in the script,
else by its name prefix (`cdk_`/`http_` → estuary-cdk, `flowctl_` → flowctl, `hackernews_` →
source-hackernews, `hello_world_` → source-hello-world). Quick mode sets `BENCH_QUICK=1` and
passes `--quick` to scripts that mention it. Benchmarks the issues promise but that are not
there yet are listed, not failed.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PREFIX_VENVS = {
    "cdk_": "estuary-cdk",
    "http_": "estuary-cdk",
    "flowctl_": "flowctl",
    "hackernews_": "source-hackernews",
    "hello_world_": "source-hello-world",
}
EXPECTED = [
    "cdk_emit",
    "http_*",
    "flowctl_preview",
    "hackernews_backfill",
    "hubspot_backfill",
    "materialize_sqlite",
    "materialize_postgres",
]
_VENV_LINE = re.compile(r"^#\s*bench-venv:\s*(\S+)", re.MULTILINE)


def venv_for(script: Path) -> Path | None:
    text = script.read_text(errors="replace")
    match = _VENV_LINE.search(text)
    package = match.group(1) if match else None
    if package is None:
        package = next(
            (pkg for prefix, pkg in PREFIX_VENVS.items() if script.stem.startswith(prefix)), "estuary-cdk"
        )
    venv = ROOT / package / ".venv"
    return venv if (venv / "bin" / "python").exists() else None


def run(script: Path, quick: bool, timeout: float) -> tuple[str, float]:
    venv = venv_for(script)
    if venv is None:
        return "skipped (its package's .venv is missing: run `make install`)", 0.0
    env = dict(os.environ)
    env["VIRTUAL_ENV"] = str(venv)
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    argv = [str(venv / "bin" / "python"), str(script)]
    if quick:
        env["BENCH_QUICK"] = "1"
        if "--quick" in script.read_text(errors="replace"):
            argv.append("--quick")
    print(
        f"\n==> {script.relative_to(ROOT)} ({venv.parent.name} venv{', quick' if quick else ''})", flush=True
    )
    started = time.monotonic()
    try:
        proc = subprocess.run(argv, cwd=ROOT, env=env, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return f"FAILED (timed out after {timeout:.0f}s)", time.monotonic() - started
    elapsed = time.monotonic() - started
    return ("ok" if proc.returncode == 0 else f"FAILED (exit {proc.returncode})"), elapsed


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="quick mode (what `make bench` runs)")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds allowed per benchmark")
    parser.add_argument("only", nargs="*", help="benchmark names to run (default: all)")
    args = parser.parse_args()

    scripts = sorted(
        p for p in BENCH.glob("*.py") if p.name != Path(__file__).name and not p.name.startswith("_")
    )
    if args.only:
        scripts = [s for s in scripts if s.stem in args.only]
    results = [(s.stem, *run(s, args.quick, args.timeout)) for s in scripts]

    print("\n==> benchmarks")
    for name, status, elapsed in results:
        print(f"  {name:<28} {status} in {elapsed:.1f}s")
    for pattern in EXPECTED:
        if not any(Path(name).match(pattern) for name, _, _ in results) and not args.only:
            print(f"  {pattern:<28} not there yet")
    return 1 if any(status.startswith("FAILED") for _, status, _ in results) else 0


if __name__ == "__main__":
    sys.exit(main())
