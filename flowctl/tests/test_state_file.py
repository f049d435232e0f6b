"""Resuming from files: `--initial-state @FILE` (or a path) takes a state of any size, and
`--output-state FILE` keeps the reduced state of the last committed transaction in FILE,
replaced atomically, so `--initial-state @FILE --output-state @FILE` resumes a run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from flowctl.errors import UsageError
from flowctl.merge_patch import apply_merge_patch
from flowctl.state_file import StateFile, read_state_argument

from .conftest import MakeCatalog, MakeMatCatalog, run_flowctl

USERS = [{"resource": {"name": "users"}, "target": "acmeCo/users"}]
# Larger than the ~128 KiB one command-line argument may hold (MAX_ARG_STRLEN).
PADDING = "x" * 300_000


def test_a_state_too_large_for_the_command_line_is_read_from_a_file(
    make_catalog: MakeCatalog, tmp_path: Path
) -> None:
    cat = make_catalog(bindings=USERS)
    state = {"bindingStateV1": {"users": {"cursor": 10}}, "padding": PADDING}
    path = tmp_path / "state.json"
    path.write_text(json.dumps(state))
    for argument in (f"@{path}", str(path)):
        res = run_flowctl("preview", "--source", str(cat.path), "--initial-state", argument)
        assert res.code == 0, res.stderr
        assert [d["id"] for _, d in res.lines()] == [11, 12, 13]
    opened = cat.requests("open")[-1]["request"]["open"]["state"]
    assert opened == state


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "cannot read"),
        ("{not json", "is not JSON (line 1, column 2"),
        ("[1, 2]", "must hold a JSON object, not list"),
    ],
)
def test_a_bad_state_file_is_a_usage_error(
    make_catalog: MakeCatalog, tmp_path: Path, content: str | None, expected: str
) -> None:
    cat = make_catalog(bindings=USERS)
    path = tmp_path / "state.json"
    if content is not None:
        path.write_text(content)
    res = run_flowctl("preview", "--source", str(cat.path), "--initial-state", f"@{path}")
    assert res.code == 2
    assert "invalid --initial-state: " in res.stderr and str(path) in res.stderr and expected in res.stderr


def test_json_on_the_command_line_still_works_and_says_how_to_give_a_file() -> None:
    assert read_state_argument('{"a": 1}') == {"a": 1}
    with pytest.raises(UsageError, match=r"the argument is not JSON .* \(a file is given as @path\)"):
        read_state_argument("no-such-state.json")


def test_output_state_file_holds_the_reduced_state_and_resumes(
    make_catalog: MakeCatalog, tmp_path: Path
) -> None:
    cat = make_catalog(
        bindings=USERS,
        config={"per_session": 4, "per_checkpoint": 2, "until": 6, "pause_after_checkpoint": 0.5},
    )
    path = tmp_path / "state.json"
    first = run_flowctl("preview", "--source", str(cat.path), "--sessions", "1", "--output-state", f"@{path}")
    assert first.code == 0, first.stderr
    assert json.loads(path.read_text()) == {"bindingStateV1": {"users": {"cursor": 2}}}
    # The lines are printed as before: the last is the full state, the file's.
    assert first.lines()[-1] == ["connectorState", {"updated": json.loads(path.read_text())}]

    second = run_flowctl(
        "preview", "--source", str(cat.path), "--initial-state", f"@{path}", "--output-state", str(path)
    )
    assert second.code == 0, second.stderr
    assert [d["id"] for c, d in second.lines() if c == "acmeCo/users"] == [3, 4, 5, 6]
    assert json.loads(path.read_text()) == {"bindingStateV1": {"users": {"cursor": 6}}}
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".state.json.")]


def test_output_state_into_a_missing_directory_is_refused_up_front(
    make_catalog: MakeCatalog, tmp_path: Path
) -> None:
    cat = make_catalog(bindings=USERS)
    res = run_flowctl(
        "preview", "--source", str(cat.path), "--output-state", str(tmp_path / "nope" / "s.json")
    )
    assert res.code == 2 and "directory" in res.stderr and "does not exist" in res.stderr
    assert cat.requests("open") == []


def test_a_failed_write_leaves_the_previous_state_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state_file = StateFile(tmp_path / "state.json")
    state_file.write({"cursor": 1})

    def broken(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(OSError):
        state_file.write({"cursor": 2, "big": PADDING})
    assert json.loads((tmp_path / "state.json").read_text()) == {"cursor": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_killed_at_any_moment_the_file_is_a_committed_state(
    make_catalog: MakeCatalog, tmp_path: Path
) -> None:
    """SIGKILL flowctl while it commits transactions: the file is always whole, and it is the
    state of the last transaction whose lines were printed, or of the one before."""
    cat = make_catalog(
        bindings=USERS, config={"per_session": 10_000, "per_checkpoint": 5, "pause_after_checkpoint": 0.002}
    )
    path = tmp_path / "state.json"
    command = [sys.executable, "-m", "flowctl", "preview", "--source", str(cat.path), "--output-state"]
    for delay in (0.0, 0.05, 0.3):
        path.unlink(missing_ok=True)
        proc = subprocess.Popen(
            [*command, f"@{path}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while not (path.exists() and path.read_text() not in ("", "{}\n")) and time.monotonic() < deadline:
            time.sleep(0.005)  # until the first transaction committed
        time.sleep(delay)
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate(timeout=30)
        states = [{}]
        for line in out.decode().splitlines():
            if not line.endswith("]"):
                break  # the line the kill cut short
            kind, body = json.loads(line)
            if kind == "connectorState":
                base = states[-1] if body.get("mergePatch") else {}
                states.append(apply_merge_patch(base, body["updated"]))
        assert len(states) >= 2, "killed before any transaction was printed"
        assert json.loads(path.read_text()) in states[-2:]


def test_a_materialization_preview_keeps_its_state_file_too(
    make_mat_catalog: MakeMatCatalog, tmp_path: Path
) -> None:
    cat = make_mat_catalog()
    fixture = tmp_path / "f.json"
    fixture.write_text('["acmeCo/users", {"id": 1, "name": "a", "_meta": {"op": "c"}}]\n{"commit": true}\n')
    path = tmp_path / "state.json"
    res = run_flowctl(
        "preview", "--source", str(cat.path), "--fixture", str(fixture), "--output-state", f"@{path}"
    )
    assert res.code == 0, res.stderr
    assert res.stdout.splitlines() == ['["connectorState",{}]']
    assert json.loads(path.read_text()) == {}
