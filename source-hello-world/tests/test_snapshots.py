"""The connector through `flowctl`, the way the reference repository tests its connectors:
spec, discover and a capture compared with pytest-insta snapshots, plus a restart that resumes
from the reduced state of a previous run."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

CONNECTOR_DIR = Path(__file__).resolve().parent.parent
PREVIEW = ["preview", "--sessions", "-1", "--timeout", "120s", "--output-state"]


def flowctl(*args: str, cwd: Path = CONNECTOR_DIR) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(["flowctl", *args], cwd=cwd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"flowctl {' '.join(args)} exited {proc.returncode}:\n{proc.stderr}"
    return proc


def lines(stdout: str) -> list[Any]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def catalog_with(tmp_path: Path, **config: Any) -> Path:
    """A copy of test.flow.yaml (and its imports) whose config.yaml has `config` applied."""
    shutil.copy(CONNECTOR_DIR / "test.flow.yaml", tmp_path / "test.flow.yaml")
    shutil.copytree(CONNECTOR_DIR / "acmeCo", tmp_path / "acmeCo")
    base = yaml.safe_load((CONNECTOR_DIR / "config.yaml").read_text())
    (tmp_path / "config.yaml").write_text(yaml.safe_dump({**base, **config}))
    return tmp_path / "test.flow.yaml"


def split(output: list[Any]) -> tuple[dict[str, list[dict]], list[dict]]:
    docs: dict[str, list[dict]] = {}
    states: list[dict] = []
    for name, value in output:
        if name == "connectorState":
            states.append(value)
        else:
            docs.setdefault(name, []).append(value)
    return docs, states


def test_spec(snapshot) -> None:
    assert snapshot("spec.stdout.json") == lines(flowctl("raw", "spec", "--source", "test.flow.yaml").stdout)


def test_discover(snapshot) -> None:
    proc = flowctl("raw", "discover", "--source", "test.flow.yaml", "-o", "json", "--emit-raw")
    assert snapshot("discover.stdout.json") == lines(proc.stdout)


def test_capture(snapshot) -> None:
    docs, states = split(lines(flowctl(*PREVIEW, "--source", "test.flow.yaml").stdout))

    greetings = docs["acmeCo/greetings"]
    # config.yaml: 10 greetings of history (backfill), then new ones up to count 40; each once.
    assert sorted(d["id"] for d in greetings) == list(range(1, 41))
    assert [d["code"] for d in docs["acmeCo/languages"]] == ["en", "es", "fr", "de", "it", "pt", "sw", "ja"]

    final = states[-1]["updated"]["bindingStateV1"]
    assert final["greetings"]["inc"] == {"cursor": 40}
    assert final["greetings"].get("backfill") is None

    first_of_each = {
        name: sorted(values, key=lambda d: d["_meta"].get("row_id", 0) or d.get("id", 0))[0]
        for name, values in docs.items()
    }
    assert snapshot("capture.stdout.json") == first_of_each


def test_resume_from_checkpoint(tmp_path: Path) -> None:
    first_dir, second_dir = tmp_path / "first", tmp_path / "second"
    first_dir.mkdir()
    second_dir.mkdir()

    first_docs, first_states = split(
        lines(flowctl(*PREVIEW, "--source", str(catalog_with(first_dir, rate=0, count=25))).stdout)
    )
    assert sorted(d["id"] for d in first_docs["acmeCo/greetings"]) == list(range(1, 26))
    state = first_states[-1]["updated"]
    assert state["bindingStateV1"]["greetings"]["inc"] == {"cursor": 25}

    # Same capture, higher count, started from the first run's final state: only the new ids,
    # no second backfill, and no new languages snapshot (its interval has not elapsed).
    second_docs, second_states = split(
        lines(
            flowctl(
                *PREVIEW,
                "--source",
                str(catalog_with(second_dir, rate=0, count=60)),
                "--initial-state",
                json.dumps(state),
            ).stdout
        )
    )
    assert sorted(d["id"] for d in second_docs["acmeCo/greetings"]) == list(range(26, 61))
    assert "acmeCo/languages" not in second_docs
    assert second_states[-1]["updated"]["bindingStateV1"]["greetings"]["inc"] == {"cursor": 60}


def test_signing_key_is_used_by_the_running_connector(tmp_path: Path) -> None:
    import hashlib
    import hmac

    docs, _ = split(
        lines(
            flowctl(
                *PREVIEW, "--source", str(catalog_with(tmp_path, rate=0, count=12, signing_key="k"))
            ).stdout
        )
    )
    for doc in docs["acmeCo/greetings"]:
        assert doc["signature"] == hmac.new(b"k", doc["message"].encode(), hashlib.sha256).hexdigest()
