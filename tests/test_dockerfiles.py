"""Every Dockerfile passes hadolint, the connector image has the runtime's labels, and each
connector's image would copy what it needs (checked without a Docker engine)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import check_docker_copies
import pytest
from conftest import ROOT, tool


def dockerfiles() -> list[Path]:
    found = []
    for path in ROOT.rglob("*"):
        parts = set(path.relative_to(ROOT).parts)
        if parts & {".venv", ".git", ".tools", "node_modules"}:
            continue
        if path.is_file() and (path.name == "Dockerfile" or path.name.endswith(".Dockerfile")):
            found.append(path)
    return sorted(found)


def test_the_repository_has_its_dockerfiles() -> None:
    names = {str(p.relative_to(ROOT)) for p in dockerfiles()}
    assert {"base-image/Dockerfile", "python/Dockerfile", "connector-variant.Dockerfile"} <= names


@pytest.mark.parametrize("dockerfile", dockerfiles(), ids=lambda p: str(p.relative_to(ROOT)))
def test_hadolint_passes(dockerfile: Path) -> None:
    proc = subprocess.run([tool("hadolint"), str(dockerfile)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_hadolint_does_flag_problems(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM debian\nRUN apt-get install curl\n")
    proc = subprocess.run([tool("hadolint"), str(bad)], capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert "DL3006" in proc.stdout  # untagged base image


def test_python_image_speaks_json_and_declares_its_protocol() -> None:
    instructions = check_docker_copies.parse_dockerfile((ROOT / "python" / "Dockerfile").read_text())
    runner = instructions[max(i for i, ins in enumerate(instructions) if ins.keyword == "FROM") :]
    labels = " ".join(ins.args for ins in runner if ins.keyword == "LABEL")
    envs = " ".join(ins.args for ins in runner if ins.keyword == "ENV")
    assert "FLOW_RUNTIME_PROTOCOL=${CONNECTOR_TYPE}" in labels
    assert "FLOW_RUNTIME_CODEC=json" in labels
    assert "dev.estuary.usage-rate=${USAGE_RATE}" in labels
    assert "FLOW_RUNTIME_CODEC=json" in envs
    entrypoints = [ins.args for ins in runner if ins.keyword == "ENTRYPOINT"]
    assert entrypoints == ['["/opt/venv/bin/serve-connector"]']
    builder = (ROOT / "python" / "Dockerfile").read_text()
    assert "exec /opt/venv/bin/python -m %s" in builder  # the entrypoint serves `python -m <module>`


def test_variant_dockerfile_only_changes_docs_url() -> None:
    instructions = check_docker_copies.parse_dockerfile((ROOT / "connector-variant.Dockerfile").read_text())
    assert [ins.keyword for ins in instructions] == ["ARG", "FROM", "ARG", "ENV"]
    assert instructions[1].args == "${BASE_CONNECTOR}"
    assert instructions[3].args == "DOCS_URL=${DOCS_URL}"


@pytest.mark.parametrize("connector", check_docker_copies.connectors())
def test_connector_image_copies_what_it_needs(connector: str) -> None:
    assert check_docker_copies.check_connector(connector) == []


def demo_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dockerfile: str, cdk_dependency: str) -> None:
    """A scratch repository (estuary-cdk, python/Dockerfile, source-demo) for the copy check."""
    (tmp_path / "python").mkdir()
    (tmp_path / "python" / "Dockerfile").write_text(dockerfile)
    connector = tmp_path / "source-demo"
    (connector / "source_demo").mkdir(parents=True)
    (connector / "source_demo" / "__main__.py").write_text("")
    (connector / "poetry.lock").write_text("")
    (connector / "pyproject.toml").write_text(f"[tool.poetry.dependencies]\nestuary-cdk = {cdk_dependency}\n")
    (tmp_path / "estuary-cdk").mkdir()
    monkeypatch.setattr(check_docker_copies, "ROOT", tmp_path)


def test_copy_check_reports_missing_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    demo_repo(
        tmp_path,
        monkeypatch,
        "FROM python:3.11-slim\nARG CONNECTOR_NAME\n"
        "COPY ${CONNECTOR_NAME}/pyproject.toml /opt/\nCOPY does-not-exist /opt/\n",
        '{path = "../estuary-cdk", develop = true}',
    )

    problems = check_docker_copies.check_connector("source-demo")
    assert any("'does-not-exist' does not exist" in p for p in problems)
    assert any("never copies 'source-demo/poetry.lock'" in p for p in problems)
    assert any("never copies 'source-demo/source_demo/__main__.py'" in p for p in problems)
    assert any("never copies 'estuary-cdk'" in p for p in problems)
    assert not any("pyproject.toml" in p for p in problems)


def test_copy_check_passes_a_complete_dockerfile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    demo_repo(
        tmp_path,
        monkeypatch,
        "FROM python:3.11-slim\nARG CONNECTOR_NAME\nCOPY estuary-cdk /opt/estuary-cdk\n"
        "COPY ${CONNECTOR_NAME} \\\n     /opt/${CONNECTOR_NAME}\n",
        '{path = "../estuary-cdk"}',
    )
    assert check_docker_copies.check_connector("source-demo") == []


@pytest.mark.parametrize("connector", check_docker_copies.connectors())
def test_image_recipe_rehearsal_serves_spec(
    connector: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Dockerfile's own instructions, run here with /opt mapped to a scratch directory:
    poetry installs the connector into the venv and the ENTRYPOINT answers `spec`."""
    import image_rehearsal

    monkeypatch.setenv("PATH", f"{ROOT / '.tools' / 'venv' / 'bin'}:{os.environ['PATH']}")
    spec = image_rehearsal.rehearse(connector, tmp_path)
    assert spec["protocol"] == 3032023
    assert spec["configSchema"]["type"] == "object"
    assert (tmp_path / "opt" / connector / "poetry.lock").exists()
    assert not (tmp_path / "opt" / "flowctl").exists()  # dev-only path dependency stays out


def test_image_rehearsal_names_the_failing_instruction(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import image_rehearsal

    (tmp_path / "ctx" / "python").mkdir(parents=True)
    (tmp_path / "ctx" / "python" / "Dockerfile").write_text(
        "FROM python:3.11-slim\nARG CONNECTOR_NAME\nRUN echo building ${CONNECTOR_NAME} && false\n"
    )
    (tmp_path / "ctx" / "source-demo").mkdir()
    monkeypatch.setattr(image_rehearsal, "ROOT", tmp_path / "ctx")
    monkeypatch.setattr(check_docker_copies, "ROOT", tmp_path / "ctx")
    rehearsal = image_rehearsal.Rehearsal(
        "python/Dockerfile", "source-demo", tmp_path / "scratch", {"CONNECTOR_NAME": "source-demo"}
    )
    (tmp_path / "scratch").mkdir()
    with pytest.raises(
        image_rehearsal.RehearsalError, match=r"python/Dockerfile:3: RUN .*exit 1\nbuilding source-demo"
    ):
        rehearsal.run()


def test_python_image_defaults_to_the_current_base_image_version() -> None:
    version = (ROOT / "base-image" / "VERSION").read_text().strip()
    instructions = check_docker_copies.parse_dockerfile((ROOT / "python" / "Dockerfile").read_text())
    base_args = [
        ins.args for ins in instructions if ins.keyword == "ARG" and ins.args.startswith("BASE_IMAGE=")
    ]
    assert base_args == [f"BASE_IMAGE=flow-connectors/base-image:{version}"]
    assert (
        "base-image:$(tr -d '[:space:]' <\"$ROOT/base-image/VERSION\")"
        in (ROOT / "build-local.sh").read_text()
    )
