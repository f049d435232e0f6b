"""Virtualenvs (issue 12, item 6): packages keep theirs in-project through their own poetry.toml
(generated connectors included), `make install` moves a package off a venv Poetry had put in its
cache, and the tools find a venv wherever Poetry put it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import new_connector
import pytest
import venvs
from conftest import ROOT, tool, tools_env

PYPROJECT = """[tool.poetry]
name = "venv-probe"
version = "0.1.0"
description = ""
authors = ["x"]
package-mode = false

[tool.poetry.dependencies]
python = "^3.11"
"""


@pytest.mark.parametrize("package", ["flowctl", "source-hello-world", "source-hackernews"])
def test_packages_carry_their_own_poetry_toml(package: str) -> None:
    text = (ROOT / package / "poetry.toml").read_text()
    assert "[virtualenvs]\nin-project = true" in text


def test_generated_connectors_carry_their_own_poetry_toml(tmp_path: Path) -> None:
    new_connector.generate("source-probe", root=tmp_path)
    assert "in-project = true" in (tmp_path / "source-probe" / "poetry.toml").read_text()


@pytest.fixture
def cached_venv_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A package whose virtualenv Poetry created in its cache (as `poetry install` does in a
    directory without poetry.toml when POETRY_VIRTUALENVS_IN_PROJECT is not set)."""
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "pyproject.toml").write_text(PYPROJECT)
    cache = tmp_path / "poetry-cache"
    monkeypatch.setenv("POETRY_VIRTUALENVS_PATH", str(cache))
    monkeypatch.setenv("POETRY_VIRTUALENVS_IN_PROJECT", "false")
    monkeypatch.delenv("VIRTUAL_ENV", raising=False)
    env = tools_env(POETRY_VIRTUALENVS_PATH=str(cache), POETRY_VIRTUALENVS_IN_PROJECT="false")
    proc = subprocess.run(
        [tool("poetry"), "install"], cwd=package, env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert not (package / ".venv").exists() and any(cache.iterdir())
    return package


def test_tools_find_a_venv_poetry_put_in_its_cache(cached_venv_package: Path, tmp_path: Path) -> None:
    found = venvs.find_venv(cached_venv_package)
    assert found is not None and found.parent == tmp_path / "poetry-cache"
    assert (found / "bin" / "python").exists()
    assert venvs.find_venv(tmp_path) is None  # not a Poetry project


def test_install_moves_a_package_off_its_cached_venv(cached_venv_package: Path, tmp_path: Path) -> None:
    env = tools_env(POETRY_VIRTUALENVS_PATH=str(tmp_path / "poetry-cache"))
    proc = subprocess.run(
        [str(ROOT / "tools" / "poetry_install.sh"), str(cached_venv_package)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "had its virtualenv in" in proc.stderr and "creating the in-project .venv" in proc.stderr
    assert venvs.find_venv(cached_venv_package) == cached_venv_package / ".venv"
