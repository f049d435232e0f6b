"""Snapshot tests written the way connectors test themselves with flowctl (reference
estuary-cdk §11.2): shell out to `flowctl` on PATH, parse stdout, compare with pytest-insta
snapshots (`pytest --insta=update` rewrites them)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

SOURCE = Path(__file__).parent / "fixtures" / "simple" / "flow.yaml"
BIN = Path(sys.executable).parent


def flowctl(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run(
        ["flowctl", *args], capture_output=True, text=True, env=env, check=False, timeout=60
    )


def test_spec(snapshot: Any) -> None:
    result = flowctl("raw", "spec", "--source", str(SOURCE))
    assert result.returncode == 0, result.stderr
    assert snapshot("stdout.json") == json.loads(result.stdout)


def test_discover(snapshot: Any) -> None:
    result = flowctl("raw", "discover", "--source", str(SOURCE), "-o", "json", "--emit-raw")
    assert result.returncode == 0, result.stderr
    assert snapshot("stdout.json") == [json.loads(line) for line in result.stdout.splitlines()]


def test_capture(snapshot: Any) -> None:
    result = flowctl("preview", "--source", str(SOURCE), "--sessions", "1", "--delay", "10s")
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert snapshot("stdout.json") == lines
