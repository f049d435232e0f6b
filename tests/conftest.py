"""Shared helpers for the repository-level tests (run by `make test` with .tools/venv's pytest)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TOOLS_BIN = ROOT / ".tools" / "venv" / "bin"
sys.path.insert(0, str(ROOT / "tools"))

from venvs import find_venv  # noqa: E402


def tool(name: str) -> str:
    """A dev tool from .tools/venv (where `make tools` puts it), else from PATH."""
    candidate = TOOLS_BIN / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"`{name}` is not installed: run `make tools`")
    return found


def tools_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{TOOLS_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["POETRY_VIRTUALENVS_IN_PROJECT"] = "true"
    env["POETRY_NO_INTERACTION"] = "1"
    env["SOPS_DISABLE_VERSION_CHECK"] = "1"
    env.pop("VIRTUAL_ENV", None)
    env.update(extra)
    return env


def connector_venv_bin(connector: str) -> Path:
    """bin/ of an installed connector's virtualenv (`make install` creates it)."""
    venv = find_venv(ROOT / connector)
    if venv is None or not (venv / "bin" / "flowctl").exists():
        pytest.fail(f"{connector} has no virtualenv with flowctl: run `make install` first")
    return venv / "bin"


def make(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """`make <args>` at the repository root, with the dev tools on PATH, output captured."""
    return subprocess.run(
        ["make", "--no-print-directory", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=tools_env(),
        timeout=timeout,
    )
