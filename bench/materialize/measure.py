"""Running one measured process: wall time, CPU seconds and peak RSS of it and its children."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

DLT_VENV = Path(__file__).resolve().parent.parent / ".work" / "dlt-venv"
DLT_SPEC = ["dlt[sqlalchemy,postgres]>=1.5"]


@dataclass
class Measured:
    name: str
    rows: int
    wall: float
    cpu: float
    peak_rss_mb: float

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.wall

    @property
    def rows_per_cpu_second(self) -> float:
        """Steadier than rows/s on a shared machine: other processes do not count."""
        return self.rows / self.cpu

    def line(self) -> str:
        return (
            f"  {self.name:<34} {self.rows_per_second:>10,.0f} rows/s {self.rows_per_cpu_second:>10,.0f} per CPU-s "
            f"{self.wall:7.2f}s wall {self.cpu:7.2f} CPU-s {self.peak_rss_mb:7.1f} MB peak RSS"
        )


def run(
    name: str, rows: int, argv: list[str], stdin: Path | None = None, env: dict[str, str] | None = None
) -> Measured:
    """Run `argv` (stdin from a file), fail loudly if it fails; measure it with wait4."""
    stdin_file = stdin.open("rb") if stdin else subprocess.DEVNULL
    started = time.perf_counter()
    proc = subprocess.Popen(
        argv, stdin=stdin_file, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env
    )
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if stdin:
        stdin_file.close()  # type: ignore[union-attr]
    if proc.returncode != 0:
        raise SystemExit(f"{name} failed (exit {proc.returncode}):\n{err.decode(errors='replace')[-3000:]}")
    return Measured(name, rows, wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)


def best(repeat: int, once: Callable[[], Measured]) -> Measured:
    runs = [once() for _ in range(repeat)]
    fastest = min(runs, key=lambda m: m.wall)
    fastest.peak_rss_mb = max(m.peak_rss_mb for m in runs)
    return fastest


def dlt_python() -> Path | None:
    """dlt's own virtualenv (created on first use); None with a message when it cannot be."""
    python = DLT_VENV / "bin" / "python"
    if not python.exists():
        print(f"installing {' '.join(DLT_SPEC)} into {DLT_VENV} (first run only)...", flush=True)
        try:
            subprocess.run([sys.executable, "-m", "venv", str(DLT_VENV)], check=True)
            subprocess.run(
                [
                    str(python),
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    *DLT_SPEC,
                    "orjson",
                ],
                check=True,
            )
        except subprocess.CalledProcessError as exc:
            print(f"dlt could not be installed ({exc}); its figures are left out", file=sys.stderr)
            shutil.rmtree(DLT_VENV, ignore_errors=True)
            return None
    return python
