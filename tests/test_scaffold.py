"""`make new-connector`: name validation, and a generated skeleton that installs and passes its
own tests (snapshots recorded on the first run, then verified as in CI on the second)."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from pathlib import Path

import check_docker_copies
import new_connector
import pytest
from conftest import ROOT, make, tool, tools_env


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "NAME is required"),
        ("Source-Foo", "invalid connector name"),
        ("foo", "invalid connector name"),
        ("source-", "invalid connector name"),
        ("source-foo--bar", "invalid connector name"),
        ("source_foo", "invalid connector name"),
        ("materialize-foo", "invalid connector name"),
        ("source-hello-world", "already exists"),
    ],
)
def test_make_new_connector_refuses_bad_names(name: str, message: str) -> None:
    proc = make("new-connector", f"NAME={name}")
    assert proc.returncode != 0
    assert message in proc.stderr


def test_generate_renders_every_placeholder(tmp_path: Path) -> None:
    written = new_connector.generate("source-acme-crm", root=tmp_path)
    relative = sorted(str(p.relative_to(tmp_path / "source-acme-crm")) for p in written)
    for expected in (
        "pyproject.toml",
        "config.yaml",
        "test.flow.yaml",
        "acmeCo/flow.yaml",
        "acmeCo/items.schema.yaml",
        "acmeCo/categories.schema.yaml",
        "poetry.toml",
        "tests/conftest.py",
        "source_acme_crm/__init__.py",
        "source_acme_crm/__main__.py",
        "source_acme_crm/models.py",
        "source_acme_crm/api.py",
        "source_acme_crm/resources.py",
        "tests/fake_api.py",
        "tests/test_snapshots.py",
        "tests/test_crash_resume.py",
    ):
        assert expected in relative
    for path in written:
        text = path.read_text()
        assert "__NAME__" not in text and "__MODULE__" not in text and "__TITLE__" not in text, path
    pyproject = (tmp_path / "source-acme-crm" / "pyproject.toml").read_text()
    assert 'estuary-cdk = {path = "../estuary-cdk", develop = true}' in pyproject
    assert 'connector = "source_acme_crm:main"' in pyproject
    assert 'name = "pypi-simple"' in pyproject
    assert (
        "command:\n          - python\n          - -m\n          - source_acme_crm"
        in (tmp_path / "source-acme-crm" / "test.flow.yaml").read_text()
    )


@pytest.fixture
def scaffolded() -> Path:
    """A fresh connector generated next to estuary-cdk (so its path dependencies resolve),
    removed afterwards whatever happens."""
    name = f"source-scaffold-test-{uuid.uuid4().hex[:8]}"
    target = ROOT / name
    try:
        proc = make("new-connector", f"NAME={name}")
        assert proc.returncode == 0, proc.stderr
        assert f"created {target}" in proc.stdout
        yield target
    finally:
        shutil.rmtree(target, ignore_errors=True)


def test_generated_connector_installs_lints_and_passes_its_tests(scaffolded: Path) -> None:
    env = tools_env()
    proc = subprocess.run(
        [tool("poetry"), "install", "--no-interaction"],
        cwd=scaffolded,
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    venv_bin = scaffolded / ".venv" / "bin"
    for argv, cwd in (
        ([tool("ruff"), "check", str(scaffolded)], ROOT),
        ([tool("ruff"), "format", "--check", str(scaffolded)], ROOT),
        ([str(venv_bin / "mypy")], scaffolded),  # its pyproject configures mypy: make lint runs it
    ):
        lint = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=300)
        assert lint.returncode == 0, lint.stdout + lint.stderr

    test_env = dict(env)
    test_env["PATH"] = f"{venv_bin}{os.pathsep}{env['PATH']}"
    test_env["VIRTUAL_ENV"] = str(scaffolded / ".venv")
    test_env.pop("CI", None)
    first = subprocess.run(
        [str(venv_bin / "python"), "-m", "pytest", "-q", "--insta", "update-new"],
        cwd=scaffolded,
        capture_output=True,
        text=True,
        env=test_env,
        timeout=900,
    )
    assert first.returncode == 0, first.stdout[-5000:] + first.stderr[-2000:]
    assert "9 passed" in first.stdout  # 7 snapshot tests, 2 crash/resume
    # spec, discover, the first item and the snapshot resource's rows
    assert len(list((scaffolded / "tests" / "snapshots").iterdir())) == 4

    # As CI runs it: recorded snapshots must match, nothing may be created.
    second = subprocess.run(
        [str(venv_bin / "python"), "-m", "pytest", "-q"],
        cwd=scaffolded,
        capture_output=True,
        text=True,
        env={**test_env, "CI": "true"},
        timeout=900,
    )
    assert second.returncode == 0, second.stdout[-5000:] + second.stderr[-2000:]
    assert "9 passed" in second.stdout

    # Its image would get everything it needs (the lock file exists now).
    assert check_docker_copies.check_connector(scaffolded.name) == []
