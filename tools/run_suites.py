"""Run every package's pytest suite one after the other, then the repository's own tests.

Suites run sequentially (2 cores, and several suites start subprocess connectors). Every suite
runs even when an earlier one failed, so one CI run shows every failure; the exit status is
non-zero if any suite failed. pytest's exit 5 ("no tests collected") counts as a failure: a
package without tests is a bug, not a success.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from venvs import find_venv

ROOT = Path(__file__).resolve().parent.parent
TOOLS_PYTHON = ROOT / ".tools" / "venv" / "bin" / "python"
_COUNT = re.compile(r"(\d+) (passed|failed|errors?|skipped|xfailed|xpassed)")
_NO_TESTS = 5
# Five suites must fit CI's 90 minutes even if each one hangs; the slowest takes ~1.5 min.
_SUITE_TIMEOUT_S = float(os.environ.get("SUITE_TIMEOUT", "600"))


@dataclass
class SuiteResult:
    name: str
    returncode: int
    seconds: float
    counts: dict[str, int] = field(default_factory=dict)
    note: str = ""

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def _parse_counts(lines: list[str]) -> dict[str, int]:
    """Counts from pytest's closing line, e.g. '==== 3 passed, 1 skipped in 0.2s ===='."""
    for line in reversed(lines):
        found = _COUNT.findall(line)
        if found and (" in " in line or line.startswith("=")):
            counts: dict[str, int] = {}
            for number, word in found:
                key = "errors" if word.startswith("error") else word
                counts[key] = counts.get(key, 0) + int(number)
            return counts
    return {}


def _run(name: str, argv: list[str], cwd: Path, env: dict[str, str]) -> SuiteResult:
    print(f"\n==> pytest: {name}", flush=True)
    started = time.monotonic()
    tail: list[str] = []
    try:
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # its own process group, so a timeout kills the connectors too
        )
    except FileNotFoundError as exc:
        return SuiteResult(name, 127, 0.0, note=f"cannot start pytest: {exc}")
    assert proc.stdout is not None
    # A hung test prints nothing, so the deadline is enforced by a timer, not by the read loop.
    timed_out = threading.Event()

    def kill() -> None:
        timed_out.set()
        # The whole group: connector subprocesses that inherited the output pipe would
        # otherwise keep the read loop below waiting after pytest itself is gone.
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    watchdog = threading.Timer(_SUITE_TIMEOUT_S, kill)
    watchdog.daemon = True
    watchdog.start()
    try:
        for line in proc.stdout:
            sys.stdout.write(line)
            tail.append(line.rstrip("\n"))
            del tail[:-20]
        returncode = proc.wait()
    finally:
        watchdog.cancel()
    result = SuiteResult(name, returncode, time.monotonic() - started, _parse_counts(tail))
    if timed_out.is_set():
        result.returncode = returncode or 124
        result.note = f"timed out after {_SUITE_TIMEOUT_S:g}s"
    elif returncode == _NO_TESTS:
        result.note = "no tests collected (exit 5): every package must have tests"
    elif returncode != 0:
        result.note = f"pytest exited {returncode}"
    return result


def _package_suite(package: str) -> SuiteResult:
    pkg_dir = ROOT / package
    venv = find_venv(pkg_dir)
    if venv is None:
        return SuiteResult(package, 1, 0.0, note=f"{package} has no virtualenv (run `make install`)")
    python = venv / "bin" / "python"
    env = dict(os.environ)
    # What `poetry run` does: the package's venv first on PATH (connector tests call `flowctl`).
    env["VIRTUAL_ENV"] = str(venv)
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env.pop("PYTHONHOME", None)
    return _run(package, [str(python), "-m", "pytest"], pkg_dir, env)


def _repo_suite(tests_dir: str) -> SuiteResult:
    python = TOOLS_PYTHON if TOOLS_PYTHON.exists() else Path(sys.executable)
    return _run(
        f"repository ({tests_dir}/)", [str(python), "-m", "pytest", tests_dir], ROOT, dict(os.environ)
    )


def _summary(results: list[SuiteResult]) -> int:
    print("\n==> summary")
    width = max((len(r.name) for r in results), default=10)
    totals: dict[str, int] = {}
    for r in results:
        for key, value in r.counts.items():
            totals[key] = totals.get(key, 0) + value
        counts = ", ".join(f"{v} {k}" for k, v in r.counts.items()) or "-"
        status = "ok" if r.ok else "FAILED"
        note = f"  ({r.note})" if r.note else ""
        print(f"  {r.name:<{width}}  {status:<6}  {counts} in {r.seconds:.1f}s{note}")
    failed_suites = [r.name for r in results if not r.ok]
    if failed_suites:
        print(f"failed suites: {', '.join(failed_suites)}")
    failed = totals.get("failed", 0) + totals.get("errors", 0)
    # A suite that failed without a failing test (crash, exit 5, timeout) still counts as a failure.
    failed += sum(1 for r in results if not r.ok and not (r.counts.get("failed") or r.counts.get("errors")))
    print(f"total: {totals.get('passed', 0)} passed, {failed} failed")
    return 1 if failed_suites else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("packages", nargs="*", help="package directories (each with a virtualenv)")
    parser.add_argument("--repo-tests", help="repository-level tests directory, run last")
    args = parser.parse_args()
    if not args.packages and not args.repo_tests:
        parser.error("nothing to run")

    results = [_package_suite(p) for p in args.packages]
    if args.repo_tests:
        results.append(_repo_suite(args.repo_tests))
    return _summary(results)


if __name__ == "__main__":
    sys.exit(main())
