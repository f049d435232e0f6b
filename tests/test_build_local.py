"""build-local.sh: argument validation, Dockerfile selection, the engine it picks (docker first,
then podman, then buildah) and how it calls each, and the errors when none is usable.

The script is copied into a temporary "repository" with connectors of our own making, so every
case is controlled. PATH holds only the few real tools the script uses plus fake `docker`,
`podman` and `buildah` clients that record their calls (a fake docker's `info` fails as the real
client does without an engine); tools/python_stand_in.py is a fake that records its call too.
Real builds with podman and buildah are in tests/test_images.py."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

BASH = shutil.which("bash") or "/bin/bash"
REAL_TOOLS = ("bash", "sh", "dirname", "tr", "grep", "cat", "python3")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    shutil.copy(ROOT / "build-local.sh", repo / "build-local.sh")
    shutil.copytree(ROOT / "base-image", repo / "base-image")
    shutil.copytree(ROOT / "python", repo / "python")
    for name in ("source-plain", "source-own", "materialize-thing"):
        (repo / name).mkdir()
        (repo / name / "pyproject.toml").write_text("[tool.poetry]\n")
        (repo / name / "poetry.lock").write_text("")
    (repo / "source-own" / "Dockerfile").write_text("FROM scratch\n")
    (repo / "source-nolock").mkdir()
    (repo / "source-nolock" / "pyproject.toml").write_text("[tool.poetry]\n")
    (repo / "custom.Dockerfile").write_text("FROM scratch\n")
    (repo / "tools").mkdir()
    (repo / "tools" / "python_stand_in.py").write_text(
        "import os, sys\n"
        "with open(os.path.join(os.path.dirname(__file__), 'calls'), 'a') as f:\n"
        "    f.write(' '.join(['python_stand_in', *sys.argv[1:]]) + '\\n')\n"
        "if os.environ.get('FAKE_STAND_IN_FAILS'):\n"
        "    print('python_stand_in: error: debootstrap is not installed', file=sys.stderr)\n"
        "    sys.exit(1)\n"
    )
    return repo


def bin_dir(repo: Path, *engines: str, docker_engine: bool = False) -> Path:
    """A PATH directory with the real tools the script needs and fake `engines`."""
    path = repo.parent / "bin"
    path.mkdir(exist_ok=True)
    for tool in REAL_TOOLS:
        # python3: this interpreter's real binary (a pyenv shim would need pyenv on PATH).
        found = str(Path(sys.executable).resolve()) if tool == "python3" else shutil.which(tool)
        assert found, f"{tool} is needed by these tests"
        if not (path / tool).exists():
            os.symlink(found, path / tool)
    calls = repo / "tools" / "calls"
    for engine in engines:
        script = path / engine
        lines = ["#!/bin/sh"]
        if engine == "docker":
            lines += [
                'if [ "$1" = info ]; then',
                f"  [ {0 if docker_engine else 1} -eq 0 ] && exit 0",
                "  echo 'Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?' >&2",
                "  exit 1",
                "fi",
                '[ "$1" = buildx ] && exit 1',  # no buildx plugin: plain (BuildKit) docker build
            ]
        record = f"{engine} $*" + (" [DOCKER_BUILDKIT=${DOCKER_BUILDKIT:-}]" if engine == "docker" else "")
        lines.append(f'echo "{record}" >> "{calls}"')
        script.write_text("\n".join(lines) + "\n")
        script.chmod(0o755)
    return path


def build(repo: Path, *args: str, path: Path | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {
        k: v for k, v in os.environ.items() if k not in ("DRY_RUN", "CONTAINER_ENGINE", "BUILD_CA_BUNDLE")
    }
    if path is not None:
        full_env["PATH"] = str(path)
    full_env.update(env)
    return subprocess.run(
        [BASH, str(repo / "build-local.sh"), *args], capture_output=True, text=True, env=full_env, timeout=60
    )


def calls(repo: Path) -> list[str]:
    log = repo / "tools" / "calls"
    return log.read_text().splitlines() if log.exists() else []


def builds(repo: Path) -> list[str]:
    return [c for c in calls(repo) if " build " in f" {c} " or c.startswith("buildah bud ")]


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


def test_no_engine_at_all_is_a_clear_error(repo: Path) -> None:
    proc = build(repo, "source-plain", path=bin_dir(repo))
    assert proc.returncode == 3
    assert "no container engine found" in proc.stderr
    assert "Install Docker (client and engine), podman or buildah" in proc.stderr
    assert calls(repo) == []


def test_docker_client_without_engine_and_nothing_else_is_a_clear_error(repo: Path) -> None:
    proc = build(repo, "source-plain", "python/Dockerfile", path=bin_dir(repo, "docker"))
    assert proc.returncode == 3
    assert "no Docker engine is answering (Cannot connect to the Docker daemon" in proc.stderr
    assert "install podman or buildah" in proc.stderr
    assert builds(repo) == [], "nothing may be built without an engine"


def test_docker_comes_first_when_its_engine_answers(repo: Path) -> None:
    proc = build(repo, "source-plain", path=bin_dir(repo, "docker", "podman", "buildah", docker_engine=True))
    assert proc.returncode == 0, proc.stderr
    assert [c.split()[0] for c in builds(repo)] == ["docker", "docker"]
    assert "with docker" in proc.stderr


def test_without_a_docker_engine_podman_then_buildah(repo: Path) -> None:
    proc = build(repo, "source-plain", path=bin_dir(repo, "docker", "podman", "buildah"))
    assert proc.returncode == 0, proc.stderr
    assert "no Docker engine is answering" in proc.stderr and "building with podman instead" in proc.stderr
    assert [c.split()[:2] for c in builds(repo)] == [["podman", "build"], ["podman", "build"]]
    (repo / "tools" / "calls").unlink()
    (repo.parent / "bin" / "podman").unlink()
    proc = build(repo, "source-plain", path=repo.parent / "bin")
    assert proc.returncode == 0, proc.stderr
    assert [c.split()[:2] for c in builds(repo)] == [["buildah", "bud"], ["buildah", "bud"]]


def test_engine_option_prints_the_choice(repo: Path) -> None:
    path = bin_dir(repo, "docker", "buildah")
    proc = build(repo, "--engine", path=path)
    assert (proc.returncode, proc.stdout) == (0, "buildah\n")
    proc = build(repo, "--engine", path=path, CONTAINER_ENGINE="docker")
    assert proc.returncode == 3
    assert "no Docker engine is answering" in proc.stderr


@pytest.mark.parametrize(
    ("value", "code", "message"),
    [
        ("nerdctl", 2, "CONTAINER_ENGINE must be docker, podman or buildah, not 'nerdctl'"),
        ("podman", 3, "CONTAINER_ENGINE=podman, but the 'podman' command was not found"),
    ],
)
def test_container_engine_must_be_known_and_installed(
    repo: Path, value: str, code: int, message: str
) -> None:
    proc = build(repo, "source-plain", path=bin_dir(repo, "buildah"), CONTAINER_ENGINE=value)
    assert proc.returncode == code
    assert message in proc.stderr
    assert builds(repo) == []


def test_container_engine_overrides_the_order(repo: Path) -> None:
    proc = build(
        repo,
        "source-plain",
        path=bin_dir(repo, "docker", "podman", "buildah", docker_engine=True),
        CONTAINER_ENGINE="buildah",
    )
    assert proc.returncode == 0, proc.stderr
    assert [c.split()[0] for c in builds(repo)] == ["buildah", "buildah"]


def test_buildah_builds_base_then_connector_chrooted_with_layers_and_the_ca_secret(
    repo: Path, tmp_path: Path
) -> None:
    bundle = tmp_path / "machine-ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    proc = build(repo, "materialize-thing", path=bin_dir(repo, "buildah"), BUILD_CA_BUNDLE=str(bundle))
    assert proc.returncode == 0, proc.stderr
    assert calls(repo)[0] == "python_stand_in --engine buildah"  # the Python image first
    base, connector = builds(repo)
    for command in (base, connector):
        assert command.startswith("buildah bud --platform linux/amd64 --format docker --layers --pull=false ")
        assert "--force-rm --isolation chroot" in command
        assert f"--secret id=build-ca,src={bundle}" in command
    assert base.endswith("-t flow-connectors/base-image:v1 base-image")
    for expected in (
        "CONNECTOR_NAME=materialize-thing",
        "CONNECTOR_TYPE=materialize",  # from the directory's prefix
        "BASE_IMAGE=flow-connectors/base-image:v1",
        "-f python/Dockerfile",
        "-t ghcr.io/estuary/materialize-thing:local",
    ):
        assert expected in connector
    assert connector.endswith(" .")
    assert (
        "built ghcr.io/estuary/materialize-thing:local (materialize, python/Dockerfile) with buildah"
        in proc.stderr
    )


def test_buildah_isolation_can_be_overridden(repo: Path) -> None:
    proc = build(repo, "source-plain", path=bin_dir(repo, "buildah"), BUILDAH_ISOLATION="oci")
    assert proc.returncode == 0, proc.stderr
    assert all("--isolation oci" in c for c in builds(repo))


def test_docker_builds_with_buildkit_and_the_ca_secret(repo: Path, tmp_path: Path) -> None:
    bundle = tmp_path / "machine-ca.pem"
    bundle.write_text("x")
    proc = build(
        repo, "source-plain", path=bin_dir(repo, "docker", docker_engine=True), BUILD_CA_BUNDLE=str(bundle)
    )
    assert proc.returncode == 0, proc.stderr
    base, connector = builds(repo)
    assert base.startswith(f"docker build --platform linux/amd64 --secret id=build-ca,src={bundle} ")
    assert base.endswith("[DOCKER_BUILDKIT=1]")  # the secret needs BuildKit
    assert "CONNECTOR_TYPE=capture" in connector


def test_no_ca_bundle_means_no_secret(repo: Path) -> None:
    proc = build(repo, "source-plain", path=bin_dir(repo, "buildah"), BUILD_CA_BUNDLE="")
    assert proc.returncode == 0, proc.stderr
    assert builds(repo) and not any("--secret" in c for c in builds(repo))


def test_a_missing_ca_bundle_file_is_refused(repo: Path) -> None:
    proc = build(repo, "source-plain", path=bin_dir(repo, "buildah"), BUILD_CA_BUNDLE="/nonexistent/ca.pem")
    assert proc.returncode == 2
    assert "BUILD_CA_BUNDLE '/nonexistent/ca.pem' is not a file" in proc.stderr


def test_no_python_image_means_no_build(repo: Path) -> None:
    proc = build(repo, "source-plain", path=bin_dir(repo, "buildah"), FAKE_STAND_IN_FAILS="1")
    assert proc.returncode == 4
    assert "debootstrap is not installed" in proc.stderr
    assert (
        "the Python image that base-image/Dockerfile and python/Dockerfile start FROM is not available"
        in proc.stderr
    )
    assert builds(repo) == []


def test_default_dockerfile_and_build_args(repo: Path) -> None:
    proc = build(repo, "source-plain", DRY_RUN="1", CONTAINER_ENGINE="docker")
    assert proc.returncode == 0, proc.stderr
    command = proc.stdout.strip().splitlines()[-1]
    for expected in (
        "docker build ",
        "-f python/Dockerfile",
        "CONNECTOR_NAME=source-plain",
        "CONNECTOR_TYPE=capture",
        "USAGE_RATE=1.0",
        "-t ghcr.io/estuary/source-plain:local",
        "BASE_IMAGE=flow-connectors/base-image:v1",
    ):
        assert expected in command
    assert command.endswith(" .")  # context is the repository root
    assert (
        "dry run: would build ghcr.io/estuary/source-plain:local (capture, python/Dockerfile) with docker"
        in proc.stderr
    )


def test_dry_run_needs_no_engine_and_shows_the_one_it_would_use(repo: Path) -> None:
    proc = build(repo, "source-plain", path=bin_dir(repo), DRY_RUN="1")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0].startswith("docker build ")
    proc = build(repo, "source-plain", path=bin_dir(repo, "podman"), DRY_RUN="1")
    assert proc.stdout.splitlines()[0].startswith(
        "podman build --platform linux/amd64 --format docker --layers"
    )
    assert calls(repo) == []  # nothing ran, not even the stand-in


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
