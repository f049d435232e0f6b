"""`make demo`: the quickstart's pipeline, end to end, offline.

Runs `flowctl run --source demo/flow.yaml --until-caught-up` from a clean slate (source-hello-world
captures greetings and languages; materialize-sqlite writes them into demo/demo.db), passes its
output through as it comes, then shows a few rows queried from the database file and a summary
line. Exits non-zero when the pipeline failed or nothing reached the database, so a broken demo
cannot look like a good one.
"""

from __future__ import annotations

import re
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

from venvs import find_venv

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "demo"
DATABASE = DEMO / "demo.db"
FLOWCTL = (
    (find_venv(ROOT / "source-hello-world") or ROOT / "source-hello-world" / ".venv") / "bin" / "flowctl"
)
_CAPTURED = re.compile(r"run summary: (\d+) documents captured \((.*?)\)")
_TRANSACTION = re.compile(r": capture transaction \d+:")


def _clean() -> None:
    """A fresh run each time: no database, no data plane from an earlier demo."""
    shutil.rmtree(DEMO / ".flowctl", ignore_errors=True)
    for path in DEMO.glob("demo.db*"):
        path.unlink()


def _run_pipeline() -> tuple[int, str, int]:
    """flowctl run's exit code, its stdout, and how many capture transactions it committed."""
    proc = subprocess.Popen(
        [str(FLOWCTL), "run", "--source", str(DEMO / "flow.yaml"), "--until-caught-up"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    transactions = 0

    def relay_stderr() -> None:
        nonlocal transactions
        assert proc.stderr is not None
        for line in proc.stderr:
            if _TRANSACTION.search(line):
                transactions += 1
            sys.stderr.write(line)

    relay = threading.Thread(target=relay_stderr, daemon=True)
    relay.start()
    assert proc.stdout is not None
    out = []
    for line in proc.stdout:
        out.append(line)
        sys.stdout.write(line)
    code = proc.wait()
    relay.join()
    return code, "".join(out), transactions


def _show_rows(conn: sqlite3.Connection, table: str, columns: str, limit: int) -> int:
    count = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    rows = conn.execute(f"SELECT {columns} FROM {table} ORDER BY 1 LIMIT {limit}").fetchall()
    print(f"\n{table} ({count} rows in {DATABASE.relative_to(ROOT)}; first {len(rows)}):  {columns}")
    for row in rows:
        print("  " + " | ".join(str(v) for v in row))
    return int(count)


def main() -> int:
    if not FLOWCTL.exists():
        print(
            f"demo: {FLOWCTL} is missing; run `make demo` (it installs what the demo needs)", file=sys.stderr
        )
        return 2
    _clean()
    started = time.monotonic()
    code, out, transactions = _run_pipeline()
    elapsed = time.monotonic() - started
    if code != 0:
        print(f"demo: the pipeline failed (flowctl run exited {code}); see the lines above", file=sys.stderr)
        return 1
    if not DATABASE.exists():
        print(f"demo: {DATABASE} was not created", file=sys.stderr)
        return 1
    conn = sqlite3.connect(f"file:{DATABASE}?mode=ro", uri=True)
    try:
        greetings = _show_rows(conn, "greetings", "id, message, created_at", 5)
        languages = _show_rows(conn, "languages", "code, hello", 8)
    finally:
        conn.close()
    captured = _CAPTURED.search(out)
    total, per_collection = (captured.group(1), captured.group(2)) if captured else ("?", "?")
    print("-" * 72)
    print(
        f"demo summary: {total} documents ({per_collection}); {transactions} checkpoint updates; {elapsed:.1f}s"
    )
    print(f"  {DATABASE.relative_to(ROOT)}: greetings {greetings} rows, languages {languages} rows")
    if greetings + languages == 0:
        print("demo: no rows reached the database", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
