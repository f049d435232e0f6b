"""The `connector` Poetry script (`source_hello_world:main`): spec and a whole capture session
without flowctl or a catalog, as a developer runs it while writing a connector."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

CONNECTOR = Path(sys.executable).parent / "connector"


def run(*args: str, cwd: Path | None = None) -> list[dict]:
    proc = subprocess.run([str(CONNECTOR), *args], capture_output=True, text=True, timeout=120, cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]


def test_spec_marks_the_signing_key_secret() -> None:
    [response] = run("spec")
    schema = response["spec"]["configSchema"]
    assert response["spec"]["protocol"] == 3032023
    assert schema["properties"]["signing_key"]["secret"] is True
    assert response["spec"]["resourcePathPointers"] == ["/name"]


def test_open_runs_a_session_that_stops_at_count(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("rate: 0\ncount: 7\nhistory: 3\npage_size: 2\n")
    messages = run("open", "--config", "config.yaml", "--bindings", "greetings", cwd=tmp_path)

    assert messages[0] == {"opened": {"explicitAcknowledgements": False}}
    captured = [m["captured"]["doc"]["id"] for m in messages if "captured" in m]
    assert sorted(captured) == list(range(1, 8))
    patches = [m["checkpoint"]["state"]["updated"] for m in messages if "checkpoint" in m]
    assert {"bindingStateV1": {"greetings": {"inc": {"cursor": 7}}}} in patches
    assert {"bindingStateV1": {"greetings": {"backfill": None}}} in patches
    # Documents are never left after the last checkpoint (they would not be committed).
    assert "checkpoint" in messages[-1]
