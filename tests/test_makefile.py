"""The Makefile discovers packages and Dockerfiles by wildcard, so nobody has to edit it when a
connector is added. Checked on a copy of the Makefile in a scratch tree (`make -n`)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from conftest import ROOT


def make_dry_run(tree: Path, target: str) -> str:
    proc = subprocess.run(
        ["make", "--no-print-directory", "-n", target, f"TOOLS_STAMP={tree}/stamp"],
        cwd=tree,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def scratch_tree(tmp_path: Path) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    (tmp_path / "tools").mkdir()
    (tmp_path / "tools" / "requirements.txt").write_text("")
    (tmp_path / "stamp").write_text("")  # newer than the requirements: tools are "installed"
    os.utime(tmp_path / "tools" / "requirements.txt", (0, 0))
    for package in ("estuary-cdk", "flowctl", "source-b", "source-a", "materialize-c"):
        (tmp_path / package).mkdir()
        typed = "\n[tool.mypy]\npackages = []\n" if package in ("estuary-cdk", "flowctl", "source-a") else ""
        (tmp_path / package / "pyproject.toml").write_text("[tool.poetry]\n" + typed)
    (tmp_path / "source-no-project").mkdir()  # not a package: no pyproject.toml
    return tmp_path


def test_install_covers_every_package_kit_first(tmp_path: Path) -> None:
    out = make_dry_run(scratch_tree(tmp_path), "install")
    assert "for pkg in estuary-cdk flowctl materialize-c source-a source-b;" in out


def test_test_runs_every_package_suite_and_the_repo_tests(tmp_path: Path) -> None:
    out = make_dry_run(scratch_tree(tmp_path), "test-packages")
    assert "tools/run_suites.py estuary-cdk flowctl materialize-c source-a source-b" in out
    # `make test` itself recurses into `make lint`, so it cannot be dry-run; its recipe runs the
    # same package list and then the repository's tests.
    recipe = (ROOT / "Makefile").read_text().split("\ntest: tools install", 1)[1].split("\n\n", 1)[0]
    assert "tools/run_suites.py $(PACKAGES) --repo-tests tests" in recipe
    assert "$(MAKE) --no-print-directory lint" in recipe


def test_lint_finds_every_dockerfile_and_types_every_package_configuring_mypy(tmp_path: Path) -> None:
    tree = scratch_tree(tmp_path)
    (tree / "source-a" / "Dockerfile").write_text("FROM scratch\n")
    (tree / "python").mkdir()
    (tree / "python" / "Dockerfile").write_text("FROM scratch\n")
    (tree / "connector-variant.Dockerfile").write_text("FROM scratch\n")
    (tree / "source-a" / ".venv").mkdir()
    (tree / "source-a" / ".venv" / "Dockerfile").write_text("FROM scratch\n")  # never linted
    out = make_dry_run(tree, "lint")
    assert (
        f'files="{tree}/connector-variant.Dockerfile {tree}/python/Dockerfile {tree}/source-a/Dockerfile"'
        in out
    )
    assert "for pkg in estuary-cdk flowctl source-a; do" in out  # connectors too (issue 12, item 10)
    assert "ruff check . " in out


def test_lint_and_fmt_can_be_scoped_and_run(tmp_path: Path) -> None:
    tree = scratch_tree(tmp_path)
    out = make_dry_run(tree, "lint")
    scoped = subprocess.run(
        ["make", "-n", "lint", "LINT_PATHS=source-a", "TYPED_PACKAGES=source-a", f"TOOLS_STAMP={tree}/stamp"],
        cwd=tree,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    assert "ruff check source-a " in scoped and "for pkg in source-a; do" in scoped and out != scoped
    assert "ruff format . && ruff check --fix ." in make_dry_run(tree, "fmt")


def test_make_test_connector_runs_that_package_only() -> None:
    makefile = (ROOT / "Makefile").read_text()
    recipe = makefile.split("ifneq ($(strip $(CONNECTOR)),)\ntest: tools\n", 1)[1].split("\nelse\n", 1)[0]
    assert 'tools/poetry_install.sh "$(ROOT)/$(CONNECTOR)"' in recipe
    assert "lint LINT_PATHS=$(CONNECTOR)" in recipe
    assert "tools/run_suites.py $(CONNECTOR) " in recipe
    proc = subprocess.run(
        ["make", "--no-print-directory", "test", "CONNECTOR=source-nope"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "make test: no package 'source-nope' (CONNECTOR=source-foo)" in proc.stderr


def test_make_runs_from_another_directory(tmp_path: Path) -> None:
    tree = scratch_tree(tmp_path / "repo")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    proc = subprocess.run(
        [
            "make",
            "--no-print-directory",
            "-n",
            "-f",
            str(tree / "Makefile"),
            "install",
            f"TOOLS_STAMP={tree}/stamp",
        ],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "for pkg in estuary-cdk flowctl materialize-c source-a source-b;" in proc.stdout
