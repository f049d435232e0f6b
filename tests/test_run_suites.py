"""tools/run_suites.py: every suite runs, counts are summed, and "no tests collected" (pytest's
exit 5), a crash or a missing venv each fail the run."""

from __future__ import annotations

from pathlib import Path

import pytest
import run_suites


def fake_package(root: Path, name: str, exit_code: int, closing: str) -> None:
    """A package whose `.venv/bin/python -m pytest` prints `closing` and exits `exit_code`."""
    bin_dir = root / name / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    python = bin_dir / "python"
    python.write_text(f"#!/bin/sh\necho 'running {name}'\necho '{closing}'\nexit {exit_code}\n")
    python.chmod(0o755)


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(run_suites, "ROOT", tmp_path)
    return tmp_path


def test_counts_are_summed_over_passing_suites(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fake_package(root, "a", 0, "======= 3 passed, 1 skipped in 0.20s =======")
    fake_package(root, "b", 0, "======= 4 passed in 1.00s =======")
    results = [run_suites._package_suite(p) for p in ("a", "b")]
    assert run_suites._summary(results) == 0
    out = capsys.readouterr().out
    assert "running a" in out and "running b" in out  # suite output is streamed
    assert out.rstrip().endswith("total: 7 passed, 0 failed")


def test_no_tests_collected_is_a_failure(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fake_package(root, "good", 0, "======= 2 passed in 0.10s =======")
    fake_package(root, "empty", 5, "======= no tests ran in 0.01s =======")
    results = [run_suites._package_suite(p) for p in ("good", "empty")]
    assert run_suites._summary(results) == 1
    out = capsys.readouterr().out
    assert "no tests collected (exit 5)" in out
    assert "failed suites: empty" in out
    assert out.rstrip().endswith("total: 2 passed, 1 failed")


def test_failures_and_missing_venvs_fail_but_later_suites_still_run(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_package(root, "broken", 1, "======= 1 failed, 5 passed in 0.30s =======")
    fake_package(root, "after", 0, "======= 1 passed in 0.10s =======")
    results = [run_suites._package_suite(p) for p in ("broken", "missing", "after")]
    assert [r.ok for r in results] == [False, False, True]
    assert run_suites._summary(results) == 1
    out = capsys.readouterr().out
    assert "missing has no virtualenv (run `make install`)" in out
    assert out.rstrip().endswith("total: 6 passed, 2 failed")


def test_a_silent_hang_is_killed_at_the_deadline(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A hung test prints nothing, so the deadline must not depend on output arriving; and a
    # child that inherited the output pipe (a connector subprocess) must die with it.
    bin_dir = root / "hangs" / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    python = bin_dir / "python"
    python.write_text("#!/bin/sh\necho 'started'\nsleep 60 &\nwait\n")
    python.chmod(0o755)
    monkeypatch.setattr(run_suites, "_SUITE_TIMEOUT_S", 0.5)
    result = run_suites._package_suite("hangs")
    assert not result.ok
    assert result.note == "timed out after 0.5s"
    assert result.seconds < 30
