"""A connector never outlives flowctl: signals flowctl can catch end its connectors (a second one
kills them at once), a flowctl that dies takes them along (PR_SET_PDEATHSIG), and a connector
killed under it is reported by its signal, with its last error line and not a chance INFO line.
The connector here idles after its first checkpoint whether or not its input is open, like a
capture of the kit that does not ask for acknowledgements."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from flowctl import parent_death

from .conftest import FIXTURES

LINGERING = FIXTURES / "lingering_connector.py"
# What "at once" and "within a second or two" mean here, with margin for a loaded machine.
PROMPT_SECONDS = 3.0


def alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie nobody reaped yet has ended)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return fields[0] not in ("Z", "X")


def gone_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.05)
    return not alive(pid)


@dataclass
class Run:
    proc: subprocess.Popen[str]
    pids: Path

    def connector(self, kind: str, timeout: float = 30) -> int:
        """The pid of the process that got the `kind` request (waits for it)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.pids.exists():
                for line in self.pids.read_text().splitlines():
                    if line.split()[0] == kind:
                        return int(line.split()[1])
            assert self.proc.poll() is None, self.finish()
            time.sleep(0.05)
        raise AssertionError(f"no {kind} process within {timeout}s")

    def finish(self, timeout: float = 30) -> tuple[int, str, str]:
        out, err = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, out, err


@pytest.fixture
def flowctl(tmp_path: Path) -> Iterator[Callable[..., Run]]:
    """Start flowctl (its own session, so its signals are the test's to send) on a catalog of the
    lingering connector; every process it started is killed at the end whatever happened."""
    runs: list[Run] = []

    def start(*args: str, config: dict[str, Any] | None = None, engine: str | None = None) -> Run:
        pids = tmp_path / "pids.txt"
        endpoint: dict[str, Any]
        env = {**os.environ, "LINGER_PIDS": str(pids)}
        if engine:
            endpoint = {
                "connector": {"image": "ghcr.io/estuary/source-lingering:dev", "config": config or {}}
            }
            env.update(_fake_engine(tmp_path, engine))
        else:
            endpoint = {"local": {"command": [sys.executable, str(LINGERING)], "config": config or {}}}
        catalog = {
            "collections": {
                "acmeCo/users": {
                    "schema": {
                        "type": "object",
                        "properties": {"id": {"type": "integer"}},
                        "required": ["id"],
                    },
                    "key": ["/id"],
                }
            },
            "captures": {
                "acmeCo/source-lingering": {
                    "endpoint": endpoint,
                    "bindings": [{"resource": {"name": "users"}, "target": "acmeCo/users"}],
                }
            },
        }
        (tmp_path / "flow.yaml").write_text(yaml.safe_dump(catalog))
        proc = subprocess.Popen(
            [sys.executable, "-m", "flowctl", *args, "--source", str(tmp_path / "flow.yaml")],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            start_new_session=True,
        )
        run = Run(proc, pids)
        runs.append(run)
        return run

    yield start
    for run in runs:
        if run.proc.poll() is None:
            run.proc.kill()
            run.proc.communicate()
        if run.pids.exists():
            for line in run.pids.read_text().splitlines():
                try:
                    os.kill(int(line.split()[1]), signal.SIGKILL)
                except ProcessLookupError:
                    pass


def _fake_engine(tmp_path: Path, engine: str) -> dict[str, str]:
    """An environment where `docker` or `buildah` is a fake CLI running the lingering connector."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    cli = bin_dir / engine
    cli.write_text(f'#!/bin/sh\nexec {sys.executable} {FIXTURES / f"fake_{engine}.py"} "$@"\n')
    cli.chmod(cli.stat().st_mode | stat.S_IEXEC)
    prefix = f"FAKE_{engine.upper()}"
    return {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "CONTAINER_ENGINE": engine,
        f"{prefix}_LOG": str(tmp_path / "engine.jsonl"),
        f"{prefix}_CONNECTOR": LINGERING.name,
    }


def _engine_calls(tmp_path: Path) -> list[list[str]]:
    log = tmp_path / "engine.jsonl"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def _removed(tmp_path: Path, engine: str, within: float = PROMPT_SECONDS) -> bool:
    """Whether the last container the engine ran was removed (waits for it)."""
    deadline = time.monotonic() + within
    while True:
        calls = _engine_calls(tmp_path)
        created = [c for c in calls if c[0] == ("run" if engine == "docker" else "from")][-1]
        name = created[created.index("--name") + 1]
        removal = ["rm", "--force", name] if engine == "docker" else ["rm", name]
        if removal in calls or time.monotonic() > deadline:
            return removal in calls
        time.sleep(0.05)


def _first_document(run: Run) -> None:
    assert run.proc.stdout is not None
    assert run.proc.stdout.readline().startswith('["acmeCo/users",')


needs_parent_death = pytest.mark.skipif(
    not parent_death.supported(), reason="PR_SET_PDEATHSIG is Linux's: elsewhere only signals end connectors"
)


@needs_parent_death
def test_a_connector_dies_with_a_sigkilled_flowctl(flowctl: Callable[..., Run]) -> None:
    run = flowctl("preview")
    pid = run.connector("open")
    _first_document(run)
    assert alive(pid)
    run.proc.kill()
    assert gone_within(pid, PROMPT_SECONDS), "the connector outlived flowctl"


@needs_parent_death
@pytest.mark.parametrize("engine", ["docker", "buildah"])
def test_an_image_connector_dies_with_a_sigkilled_flowctl_and_its_container_is_removed(
    flowctl: Callable[..., Run], tmp_path: Path, engine: str
) -> None:
    run = flowctl("preview", engine=engine)
    pid = run.connector("open")
    _first_document(run)
    run.proc.kill()
    assert gone_within(pid, PROMPT_SECONDS), "the connector outlived flowctl"
    # The guard learnt of flowctl's death, stopped the container and removed it.
    assert _removed(tmp_path, engine)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_a_signal_stops_the_preview_and_ends_its_connector(flowctl: Callable[..., Run], sig: int) -> None:
    run = flowctl("preview", "--output-state")
    pid = run.connector("open")
    _first_document(run)
    run.proc.send_signal(sig)
    code, out, err = run.finish()
    assert code == 0, err
    name = signal.Signals(sig).name
    assert f"preview: stopping ({name}); the summary follows" in err and f"stopped by {name}" in err, err
    assert out.splitlines()[-1] == '["connectorState",{"updated":{"cursor":1}}]'
    assert not alive(pid), "flowctl ended before its connector"


@pytest.mark.parametrize("engine", [None, "docker", "buildah"], ids=["local", "docker", "buildah"])
def test_a_second_signal_kills_the_connector_at_once(
    flowctl: Callable[..., Run], tmp_path: Path, engine: str | None
) -> None:
    run = flowctl("preview", config={"ignore_sigterm": True}, engine=engine)
    pid = run.connector("open")
    _first_document(run)
    run.proc.send_signal(signal.SIGTERM)  # the connector ignores the SIGTERM flowctl sends it
    time.sleep(1)
    assert run.proc.poll() is None and alive(pid)  # flowctl gives it its grace period
    started = time.monotonic()
    run.proc.send_signal(signal.SIGTERM)
    code, _, err = run.finish()
    assert time.monotonic() - started < PROMPT_SECONDS
    assert code == 130 and "SIGTERM again: killing the connector processes at once" in err, err
    assert gone_within(pid, 0.5)
    if engine:  # the guard killed the container at once, and removed it
        assert _removed(tmp_path, engine)


def test_a_signal_cancels_a_raw_command_and_ends_its_connector(flowctl: Callable[..., Run]) -> None:
    run = flowctl("raw", "discover")
    pid = run.connector("discover")
    run.proc.send_signal(signal.SIGHUP)
    code, out, err = run.finish()
    assert code == 130 and "flowctl: stopping (SIGHUP): ending the connector" in err, err
    assert out == "" and not alive(pid)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({}, "error: connector was killed by signal 9 (SIGKILL); it logged no error\n"),
        (
            {"error": "lost the connection to the fake API"},
            "error: connector was killed by signal 9 (SIGKILL); its last error line: "
            "lost the connection to the fake API\n",
        ),
    ],
)
@pytest.mark.parametrize("engine", [None, "docker", "buildah"], ids=["local", "docker", "buildah"])
def test_a_killed_connector_is_named_by_its_signal_and_last_error(
    flowctl: Callable[..., Run], tmp_path: Path, config: dict[str, str], message: str, engine: str | None
) -> None:
    run = flowctl("preview", config=config, engine=engine)
    pid = run.connector("open")
    _first_document(run)
    os.kill(pid, signal.SIGKILL)
    code, _, err = run.finish()
    assert code == 1
    errors = [line + "\n" for line in err.splitlines() if not line.startswith("20")]  # not log lines
    assert errors == [message], err
    assert "exit status" not in err  # nor buildah's report of it
    if engine:  # the guard removed the container
        assert _removed(tmp_path, engine, within=0)
