"""Every Dockerfile passes hadolint, the connector image has the runtime's labels, and each
connector's image would copy what it needs (checked without a Docker engine)."""

from __future__ import annotations

import os
import shutil
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
    assert [ins.keyword for ins in instructions] == ["ARG", "ARG", "ARG", "FROM", "ARG", "ENV"]
    assert instructions[3].args == "${BASE_CONNECTOR}"
    # DOCS_URL is read before FROM under another name: in the stage, the base image's own
    # ENV DOCS_URL would win over an ARG of that name (tests/test_images.py builds it for real).
    assert instructions[1].args == "DOCS_URL"
    assert instructions[2].args == "VARIANT_DOCS_URL=${DOCS_URL}"
    assert instructions[5].args == "DOCS_URL=${VARIANT_DOCS_URL}"


def _stage(dockerfile: str, index: int) -> list[check_docker_copies.Instruction]:
    instructions = check_docker_copies.parse_dockerfile((ROOT / dockerfile).read_text())
    starts = [i for i, ins in enumerate(instructions) if ins.keyword == "FROM"]
    ends = [*starts[1:], len(instructions)]
    return instructions[starts[index] : ends[index]]


def test_python_image_downloads_trust_the_build_ca_only_as_a_secret() -> None:
    """Every builder step that downloads (pip, Poetry) mounts the `build-ca` secret and runs
    through with-build-ca; nothing copies a CA bundle, and the runner stage mounts no secret."""
    builder, runner = _stage("python/Dockerfile", 0), _stage("python/Dockerfile", 1)
    downloads = [
        ins
        for ins in builder
        if ins.keyword == "RUN" and ("pip install" in ins.args or "poetry install" in ins.args)
    ]
    assert len(downloads) == 3
    for ins in downloads:
        assert ins.args.startswith("--mount=type=secret,id=build-ca "), ins
        assert "sh /opt/poetry/bin/with-build-ca " in ins.args, ins
    text = (ROOT / "python" / "Dockerfile").read_text()
    assert "ca-certificates.crt" not in text.split("FROM ${PYTHON_IMAGE} AS builder", 1)[1]
    assert not any("--mount" in ins.args for ins in runner)
    assert not any(
        "build-ca" in ins.args or "/opt/poetry" in ins.args for ins in runner if ins.keyword == "COPY"
    )


def test_with_build_ca_trusts_the_secret_only_when_there_is_one(tmp_path: Path) -> None:
    script = ROOT / "python" / "with-build-ca"
    show = ["sh", str(script), "sh", "-c", 'echo "${REQUESTS_CA_BUNDLE:-unset} ${PIP_CERT:-unset}"']
    env = {k: v for k, v in os.environ.items() if k not in ("REQUESTS_CA_BUNDLE", "PIP_CERT")}
    proc = subprocess.run(show, capture_output=True, text=True, env=env, check=True)
    assert proc.stdout.split() == ["unset", "unset"]  # no secret mounted (/run/secrets/build-ca)
    patched = tmp_path / "with-build-ca"
    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    patched.write_text(script.read_text().replace("/run/secrets/build-ca", str(bundle)))
    proc = subprocess.run(
        ["sh", str(patched), *show[2:]], capture_output=True, text=True, env=env, check=True
    )
    assert proc.stdout.split() == [str(bundle), str(bundle)]


def test_base_and_python_images_start_from_the_same_python_image() -> None:
    """The runner's venv links to the builder's interpreter, so both must be the same image
    (and tools/python_stand_in.py reads the base image's)."""
    defaults = []
    for dockerfile in ("base-image/Dockerfile", "python/Dockerfile"):
        text = (ROOT / dockerfile).read_text()
        defaults += [line for line in text.splitlines() if line.startswith("ARG PYTHON_IMAGE=")]
    assert len(defaults) == 2 and defaults[0] == defaults[1]


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
    poetry installs the connector into the venv and the ENTRYPOINT answers `spec`. Where buildah
    is installed, tests/test_images.py builds and starts the real image instead, which proves
    all this and more (the base, the user, the labels); the rehearsal is for machines without."""
    import image_rehearsal

    if shutil.which("buildah") is not None:
        pytest.skip("buildah is installed: tests/test_images.py builds and runs the real image")

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


def test_image_rehearsal_leaves_out_the_image_oss_package_steps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`apt-get` in a RUN installs into the image's OS; rehearsed here it would change this
    machine's, so it is left out and the steps around it still run."""
    import image_rehearsal

    (tmp_path / "ctx" / "python").mkdir(parents=True)
    (tmp_path / "ctx" / "python" / "Dockerfile").write_text(
        "FROM python:3.11-slim\nRUN apt-get install -y no-such-package-here\n"
        "RUN --mount=type=secret,id=build-ca apt-get update\nRUN echo built > /opt/marker\n"
    )
    monkeypatch.setattr(image_rehearsal, "ROOT", tmp_path / "ctx")
    (tmp_path / "scratch" / "opt").mkdir(parents=True)
    image_rehearsal.Rehearsal("python/Dockerfile", "source-demo", tmp_path / "scratch", {}).run()
    assert (tmp_path / "scratch" / "opt" / "marker").read_text() == "built\n"


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
