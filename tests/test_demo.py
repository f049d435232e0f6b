"""`make demo` (the quickstart) works offline, ends on its own and shows what it promises: the
capture's documents as rows of a SQLite file, queried back, and a summary line."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

from conftest import make

ROOT = Path(__file__).resolve().parent.parent


def test_make_demo_captures_into_sqlite_and_summarizes() -> None:
    proc = make("demo", timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    # source-hello-world/config.yaml: history 10 (backfill) + new greetings up to count 40.
    db = ROOT / "demo" / "demo.db"
    conn = sqlite3.connect(db)
    try:
        ids = [row[0] for row in conn.execute("SELECT id FROM greetings ORDER BY id")]
        languages = conn.execute("SELECT count(*) FROM languages").fetchone()[0]
        (checkpoint,) = conn.execute("SELECT checkpoint FROM flow_checkpoints_v1").fetchone()
    finally:
        conn.close()
    assert ids == list(range(1, 41))
    assert languages == 8
    assert '"readThrough"' in checkpoint  # committed with the rows, exactly once

    # Rows queried back from the file are shown, then the summary.
    assert re.search(r"^greetings \(40 rows in demo/demo.db; first 5\)", proc.stdout, re.M)
    assert "  1 | Hello, world! (#1) | 2024-01-01T00:00:01Z" in proc.stdout
    summary = re.search(
        r"demo summary: (\d+) documents \((.*?)\); (\d+) checkpoint updates; [\d.]+s", proc.stdout
    )
    assert summary, proc.stdout[-2000:]
    assert summary.group(1) == "48"
    assert "acmeCo/greetings: 40" in summary.group(2) and "acmeCo/languages: 8" in summary.group(2)
    assert int(summary.group(3)) >= 2
    assert "demo/demo.db: greetings 40 rows, languages 8 rows" in proc.stdout
