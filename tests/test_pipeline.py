"""The local pipeline with real connectors: source-hello-world through `flowctl run` into
materialize-sqlite. Killed with SIGKILL in the middle and run again, the database holds exactly
the rows of an uninterrupted run: nothing lost, nothing doubled."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import yaml
from conftest import ROOT, connector_venv_bin

COUNT = 400


def _catalog(dir: Path) -> Path:
    """demo/flow.yaml, made to capture COUNT greetings at 200/s into dir/pipeline.db."""
    doc = yaml.safe_load((ROOT / "demo" / "flow.yaml").read_text())
    doc["import"] = [str(ROOT / "source-hello-world" / "acmeCo" / "flow.yaml")]
    capture = doc["captures"]["acmeCo/source-hello-world"]["endpoint"]["local"]
    capture["command"][0] = str(ROOT / "source-hello-world" / ".venv" / "bin" / "python")
    capture["config"] = {"rate": 200, "count": COUNT, "history": 50, "page_size": 10}
    materialize = doc["materializations"]["acmeCo/demo-sqlite"]["endpoint"]["local"]
    materialize["command"][0] = str(ROOT / "materialize-sqlite" / ".venv" / "bin" / "python")
    materialize["config"] = {"path": str(dir / "pipeline.db")}
    path = dir / "flow.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def _run(catalog: Path, *args: str) -> subprocess.Popen[bytes]:
    flowctl = connector_venv_bin("source-hello-world") / "flowctl"
    return subprocess.Popen(
        [str(flowctl), "run", "--source", str(catalog), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def _rows(db: Path) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(db)
    try:
        greetings = conn.execute("SELECT id, message, created_at FROM greetings ORDER BY id").fetchall()
        languages = conn.execute('SELECT "_meta/row_id", code, hello FROM languages ORDER BY 1').fetchall()
        return greetings + languages
    finally:
        conn.close()


def _committed(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        conn = sqlite3.connect(db)
        try:
            return int(conn.execute("SELECT count(*) FROM greetings").fetchone()[0])
        finally:
            conn.close()
    except sqlite3.Error:
        return 0


def test_a_pipeline_killed_mid_run_resumes_with_nothing_lost_or_doubled(tmp_path: Path) -> None:
    reference_dir, killed_dir = tmp_path / "reference", tmp_path / "killed"
    reference_dir.mkdir()
    killed_dir.mkdir()

    reference = _run(_catalog(reference_dir), "--until-caught-up")
    _, err = reference.communicate(timeout=300)
    assert reference.returncode == 0, err.decode()[-3000:]
    expected = _rows(reference_dir / "pipeline.db")
    assert [r[0] for r in expected[:COUNT]] == list(range(1, COUNT + 1))

    catalog = _catalog(killed_dir)
    db = killed_dir / "pipeline.db"
    first = _run(catalog)
    deadline = time.monotonic() + 120
    while _committed(db) < COUNT // 3 and time.monotonic() < deadline:
        assert first.poll() is None, first.communicate()[1].decode()[-3000:]
        time.sleep(0.05)
    assert _committed(db) >= COUNT // 3, "the first run committed too little before the kill"
    os.killpg(first.pid, signal.SIGKILL)  # flowctl and both connectors, mid-run
    first.wait()
    assert _committed(db) < COUNT  # really killed in the middle

    second = _run(catalog, "--until-caught-up")
    _, err = second.communicate(timeout=300)
    assert second.returncode == 0, err.decode()[-3000:]
    assert _rows(db) == expected
