"""`flowctl crash-test`: drive estuary-cdk's crash/resume harness against a catalog's capture.

The harness lives in the kit's testing package (`estuary_cdk.testing.crash_resume`): it kills
the capture with SIGKILL at many points, resumes it each time from what it committed, and
checks that nothing was lost. flowctl does not import the kit (the protocol is tested from both
sides), so this command runs the harness in the connector's own Python, the interpreter of the
capture's local command, which has the kit, and hands it this flowctl for its preview target.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import orjson

from .catalog import Capture, Catalog
from .errors import FlowctlError, UsageError

HARNESS = "estuary_cdk.testing.crash_resume"


class CrashTestError(FlowctlError):
    """The harness cannot run (no Python with estuary-cdk for this capture)."""


def connector_python(capture: Capture) -> str:
    """The interpreter of the capture's local command (`python -m source_x` runs on PATH's
    python, as flowctl runs it), else PATH's python3."""
    if capture.endpoint.kind != "local":
        raise UsageError(
            f"crash-test runs the capture's connector locally: {capture.name!r} has an image endpoint "
            "(use a catalog with endpoint.local, such as the connector's test.flow.yaml)"
        )
    first = capture.endpoint.command[0]
    if Path(first).name.startswith("python"):
        found = first if os.sep in first else shutil.which(first)
        if found:
            return found
    found = shutil.which("python3") or shutil.which("python")
    return found or sys.executable


def run_crash_test(
    catalog: Catalog,
    capture: Capture,
    *,
    kills: int,
    seed: int,
    target: str,
    idle: float,
    timeout: float,
    as_json: bool,
) -> int:
    """Run the harness; its report goes to stdout. Returns its exit status (1: something was
    lost or repeated, or a run failed)."""
    python = connector_python(capture)
    probe = subprocess.run([python, "-c", f"import {HARNESS}"], capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        reason = (probe.stderr.strip().splitlines() or ["?"])[-1]
        raise CrashTestError(
            f"crash-test runs estuary-cdk's crash/resume harness ({HARNESS}) in the connector's Python "
            f"({python}), which cannot import it: {reason}. Run flowctl inside the connector's "
            "environment (poetry run flowctl crash-test ...), where estuary-cdk is installed"
        )
    argv = [
        python,
        "-m",
        HARNESS,
        "--source",
        str(Path(catalog.source).resolve()),
        "--name",
        capture.name,
        "--kills",
        str(kills),
        "--seed",
        str(seed),
        "--target",
        target,
        "--idle",
        f"{idle:g}",
        "--max-seconds",
        f"{timeout:g}",
        "--flowctl",
        orjson.dumps([sys.executable, "-m", "flowctl"]).decode(),
    ]
    if as_json:
        argv.append("--json")
    return subprocess.run(argv, check=False, cwd=Path(capture.file).parent).returncode
