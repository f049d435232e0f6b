"""build-local.sh: argument validation, Dockerfile selection and the no-engine error.

The script is copied into a temporary "repository" with connectors of our own making, so every
case is controlled; a fake `docker` client stands in for a machine without a running engine."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import ROOT

BASH = shutil.which("bash") or "/bin/bash"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    shutil.copy(ROOT / "build-local.sh", tmp_path / "build-local.sh")
    shutil.copytree(ROOT / "base-image", tmp_path / "base-image")
    shutil.copytree(ROOT / "python", tmp_path / "python")
    for name in ("source-plain", "source-own", "materialize-thing"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "pyproject.toml").write_text("[tool.poetry]\n")
        (tmp_path / name / "poetry.lock").write_text("")
    (tmp_path / "source-own" / "Dockerfile").write_text("FROM scratch\n")
    (tmp_path / "source-nolock").mkdir()
    (tmp_path / "source-nolock" / "pyproject.toml").write_text("[tool.poetry]\n")
    (tmp_path / "custom.Dockerfile").write_text("FROM scratch\n")
    return tmp_path


def fake_docker(directory: Path, info_exit: int) -> Path:
    """A `docker` client whose `info` fails like the real client does without an engine."""
    bin_dir = directory / "fakebin"
    bin_dir.mkdir(exist_ok=True)
    script = bin_dir / "docker"
    script.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = info ]; then\n'
        f"  [ {info_exit} -eq 0 ] && exit 0\n"
        "  echo 'Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?' >&2\n"
        f"  exit {info_exit}\n"
        "fi\n"
        'echo "docker $*" >> "$(dirname "$0")/calls"\n'
    )
    script.chmod(0o755)
    return bin_dir


def build(repo: Path, *args: str, path: str | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = dict(os.environ)
    full_env.pop("DRY_RUN", None)
    if path is not None:
        full_env["PATH"] = path
    full_env.update(env)
    return subprocess.run(
        [BASH, str(repo / "build-local.sh"), *args], capture_output=True, text=True, env=full_env, timeout=60
    )


def test_no_arguments_prints_usage(repo: Path) -> None:
    proc = build(repo)
    assert proc.returncode == 2
    assert "usage: ./build-local.sh <connector> [Dockerfile]" in proc.stderr


def test_too_many_arguments(repo: Path) -> None:
    proc = build(repo, "source-plain", "python/Dockerfile", "extra")
    assert proc.returncode == 2
    assert "expected 1 or 2 arguments, got 3" in proc.stderr


@pytest.mark.parametrize(
    "name", ["Source-Plain", "hello", "source-", "source_plain", "../source-plain", "sink-x"]
)
def test_bad_connector_names_are_refused(repo: Path, name: str) -> None:
    proc = build(repo, name)
    assert proc.returncode == 2
    assert f"invalid connector name '{name}'" in proc.stderr


def test_unknown_connector_directory(repo: Path) -> None:
    proc = build(repo, "source-missing")
    assert proc.returncode == 2
    assert "no connector directory 'source-missing'" in proc.stderr


def test_missing_dockerfile(repo: Path) -> None:
    proc = build(repo, "source-plain", "nope/Dockerfile")
    assert proc.returncode == 2
    assert "Dockerfile 'nope/Dockerfile' does not exist" in proc.stderr


def test_connector_without_lock_file(repo: Path) -> None:
    proc = build(repo, "source-nolock")
    assert proc.returncode == 2
    assert "source-nolock has no poetry.lock" in proc.stderr


def test_no_docker_engine_is_a_clear_error(repo: Path) -> None:
    bin_dir = fake_docker(repo, info_exit=1)
    proc = build(repo, "source-plain", "python/Dockerfile", path=f"{bin_dir}:/usr/bin:/bin")
    assert proc.returncode == 3
    assert "no Docker engine is answering" in proc.stderr
    assert "Cannot connect to the Docker daemon" in proc.stderr
    assert not (bin_dir / "calls").exists(), "nothing may be built without an engine"


def test_no_docker_client_is_a_clear_error(repo: Path, tmp_path: Path) -> None:
    empty = tmp_path / "emptybin"
    empty.mkdir()
    for tool in ("tr", "dirname"):
        os.symlink(shutil.which(tool), empty / tool)
    proc = build(repo, "source-plain", path=str(empty))
    assert proc.returncode == 3
    assert "'docker' command was not found" in proc.stderr


def test_default_dockerfile_and_build_args(repo: Path) -> None:
    proc = build(repo, "source-plain", DRY_RUN="1")
    assert proc.returncode == 0, proc.stderr
    command = proc.stdout.strip().splitlines()[-1]
    for expected in (
        "-f python/Dockerfile",
        "CONNECTOR_NAME=source-plain",
        "CONNECTOR_TYPE=capture",
        "USAGE_RATE=1.0",
        "-t ghcr.io/estuary/source-plain:local",
        "BASE_IMAGE=flow-connectors/base-image:v1",
    ):
        assert expected in command
    assert command.endswith(" .")  # context is the repository root


def test_guide_form_with_explicit_python_dockerfile(repo: Path) -> None:
    proc = build(repo, "source-plain", "python/Dockerfile", DRY_RUN="1")
    assert proc.returncode == 0, proc.stderr
    assert "-f python/Dockerfile" in proc.stdout


def test_materialize_connectors_get_their_type(repo: Path) -> None:
    proc = build(repo, "materialize-thing", DRY_RUN="1", USAGE_RATE="0.5")
    assert proc.returncode == 0, proc.stderr
    assert "CONNECTOR_TYPE=materialize" in proc.stdout
    assert "USAGE_RATE=0.5" in proc.stdout


def test_connector_dockerfile_wins_over_the_default(repo: Path) -> None:
    proc = build(repo, "source-own", "python/Dockerfile", DRY_RUN="1")
    assert proc.returncode == 0, proc.stderr
    assert "-f source-own/Dockerfile" in proc.stdout
    assert "has its own Dockerfile" in proc.stderr


def test_explicit_dockerfile_is_used(repo: Path) -> None:
    proc = build(repo, "source-plain", "custom.Dockerfile", DRY_RUN="1")
    assert proc.returncode == 0, proc.stderr
    assert "-f custom.Dockerfile" in proc.stdout


def test_engine_present_runs_base_then_connector_build(repo: Path) -> None:
    bin_dir = fake_docker(repo, info_exit=0)
    proc = build(repo, "source-plain", path=f"{bin_dir}:/usr/bin:/bin")
    assert proc.returncode == 0, proc.stderr
    calls = (bin_dir / "calls").read_text().splitlines()
    builds = [c for c in calls if " build " in f" {c} "]
    assert "base-image" in builds[0]
    assert "ghcr.io/estuary/source-plain:local" in builds[-1]
