"""The pydantic floor in pyproject.toml is a tested one.

Connectors keep the pydantic their lock file holds when they swap in this kit (Poetry keeps every
locked version the new constraints allow), and the schemas they publish are pydantic's: a floor
above their lock would change those schemas, or refuse the install (source-impact-native pins
2.7.2). So the floor admits every pydantic v2 the reference's connectors lock, and the kit's
pydantic-sensitive tests run under the floor itself, in a virtualenv of their own (made once under
the user's cache and reused; every other package at the version this venv has).
"""

from __future__ import annotations

import fcntl
import os
import re
import subprocess
import sys
import venv
from importlib import metadata
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet
from packaging.version import Version

KIT = Path(__file__).resolve().parents[1]

REFERENCE_LOCKED_V2 = ["2.7.2", "2.9.2", "2.10.6", "2.11.5", "2.11.7", "2.11.9", "2.12.3", "2.12.5", "2.13.4"]
"""The pydantic v2 versions in the poetry.lock files of estuary/connectors' Python capture
connectors at a9bf953 (the other 14 lock 1.10.14, through airbyte-cdk)."""

FLOOR_SUITE = [
    "tests/test_core_model_json.py",
    "tests/test_engine_tombstones.py",
    "tests/test_engine_models.py",
    "tests/test_http_credentials.py",
    "tests/test_core_config_errors.py",
    "tests/test_dropin_compat.py",
    "tests/test_engine_snapshot.py",
]
"""The tests closest to pydantic (serialization, schemas, validation errors, tombstones), all
in-process. The whole suite passed there too when the floor was set (104 s, so not on every run)."""


def _pydantic_constraint() -> SpecifierSet:
    text = (KIT / "pyproject.toml").read_text()
    found = re.search(r'^pydantic\s*=\s*"([^"]+)"', text, re.M)
    assert found, "pyproject.toml declares no pydantic constraint"
    return SpecifierSet(found.group(1))


def _floor() -> Version:
    """The oldest pydantic 2 minor the constraint admits. (It admits pydantic 1.10 too, for the
    Airbyte shim's connectors alone: tests/test_airbyte_shim.py tests that one.)"""
    constraint = _pydantic_constraint()
    floors = [Version(f"2.{minor}") for minor in range(0, 100) if f"2.{minor}.0" in constraint]
    assert floors, "the pydantic constraint admits no pydantic 2"
    return floors[0]


def test_the_constraint_admits_the_airbyte_connectors_pydantic_1_and_no_2_below_the_floor() -> None:
    constraint = _pydantic_constraint()
    assert "1.10.14" in constraint  # what all 14 Airbyte-based reference connectors lock
    assert [v for v in ("2.0.3", "2.6.4") if v in constraint] == []


def test_the_floor_admits_every_pydantic_v2_a_reference_connector_locks() -> None:
    constraint = _pydantic_constraint()
    refused = [v for v in REFERENCE_LOCKED_V2 if v not in constraint]
    assert refused == []


def test_the_constraint_keeps_an_upper_bound() -> None:
    assert any(s.operator == "<" for s in _pydantic_constraint())


@pytest.mark.skipif(os.environ.get("ESTUARY_CDK_SKIP_FLOOR") == "1", reason="ESTUARY_CDK_SKIP_FLOOR=1")
def test_the_pydantic_sensitive_tests_pass_under_the_floor(tmp_path: Path) -> None:
    floor = _floor()
    root = (
        _cache_root()
        / f"py{sys.version_info.major}{sys.version_info.minor}-pydantic{floor.major}.{floor.minor}"
    )
    root.parent.mkdir(parents=True, exist_ok=True)
    # Held while building and while running: concurrent suites (other checkouts share the cache)
    # neither build the same venv at once nor have it rebuilt under them.
    with open(root.parent / f"{root.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        python = _floor_venv(floor, root)
        # This tree's kit and flowctl (the kit's cli uses it) through PYTHONPATH, never a .pth in
        # the shared venv: a fresh clone and another checkout must each test their own code.
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(KIT), str(KIT.parent / "flowctl")])}
        command = [str(python), "-m", "pytest", "-q", "-o", f"cache_dir={tmp_path}", "-p", "no:randomly"]
        proc = subprocess.run(
            [*command, *FLOOR_SUITE], cwd=KIT, env=env, capture_output=True, text=True, timeout=600
        )
        probe = "import estuary_cdk, pydantic; print(pydantic.VERSION); print(estuary_cdk.__file__)"
        version, kit_file = subprocess.run(
            [str(python), "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True, check=True
        ).stdout.split()
    assert Version(version).release[:2] == floor.release[:2], version
    assert Path(kit_file).resolve().is_relative_to(KIT), kit_file
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]


def _cache_root() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "estuary-cdk-pydantic-floor"


def _floor_venv(floor: Version, root: Path) -> Path:
    """A venv at ``root`` with pydantic at the floor's minor (its newest patch) and this venv's
    versions of everything else; reused while those stay the same (a cold build is about 80 s,
    mostly downloads; a reused one costs nothing). The caller holds the lock."""
    pins = sorted(
        f"{d.metadata['Name']}=={d.version}"
        for d in metadata.distributions()
        if d.metadata["Name"]
        and d.metadata["Name"].lower().replace("_", "-")
        not in {
            "pydantic",
            "pydantic-core",
            "typing-inspection",
            "estuary-cdk",
            "flowctl",
            "mypy",
            "pip",
            "setuptools",
        }
        and not d.metadata["Name"].lower().startswith("types-")
    )
    wanted = f"pydantic=={floor.major}.{floor.minor}.*\n" + "\n".join(pins) + "\n"
    python = root / "bin" / "python"
    stamp = root / "requirements.txt"
    # Written by an earlier version of this test: it put one checkout's kit on every run's path.
    for stale in root.glob("lib/python*/site-packages/estuary_cdk_tree.pth"):
        stale.unlink()
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python
    venv.create(root, clear=True, with_pip=True)
    reqs = root / "wanted.txt"
    reqs.write_text(wanted)
    pip = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", "-r", str(reqs)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    # No stamp on failure, so the next run starts over rather than trusting a half-made venv.
    assert pip.returncode == 0, f"building the floor venv at {root} failed:\n{pip.stderr[-3000:]}"
    stamp.write_text(wanted)
    return python
