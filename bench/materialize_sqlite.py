"""Benchmark: documents through materialize-sqlite's whole path, next to a raw loop and dlt.
# bench-venv: materialize-sqlite

N documents of 15 fields, in transactions of 50,000, go through the connector as a runtime sends
them: the connector process reads `open`, then acknowledge / flush / store... / startCommit
requests (keys and values packed, the document in each store) from a file on stdin, and commits
each transaction to a SQLite file (WAL, synchronous=FULL) with its checkpoint. Its tables were
created by an Apply first (not timed). In the same run:

* the raw loop (`materialize/raw_sqlite.py`): read the same documents, build the same rows and
  `executemany` them in one transaction — the least any loader must do;
* dlt (PyPI `dlt[sqlalchemy]`, installed by this script into its own venv under bench/.work/)
  loading the same documents into SQLite with merge on `id`.

Figures: rows/s (wall time of the whole process, start-up included), CPU seconds and peak RSS
(`wait4` of the process), best of `--repeat` runs for the two fast ones; then the ratios.
Targets (issue 10): ahead of dlt; >= 60% of the raw loop; peak RSS at N < 1.2x that at N/10.

    python bench/materialize_sqlite.py [--count 1000000] [--quick] [--repeat 3] [--no-dlt]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
WORK = BENCH / ".work" / "materialize-sqlite"
sys.path.insert(0, str(BENCH / "materialize"))

import orjson  # noqa: E402
from measure import Measured, best, dlt_python, run  # noqa: E402
from workload import materialization, write_inputs  # noqa: E402


def _connector(requests: Path, database: Path, spec: dict[str, object]) -> Callable[[], Measured]:
    def once() -> Measured:
        for f in database.parent.glob(database.name + "*"):
            f.unlink()
        apply = orjson.dumps({"apply": {"materialization": spec, "version": "bench"}}) + b"\n"
        subprocess.run(
            [sys.executable, "-m", "materialize_sqlite"], input=apply, check=True, capture_output=True
        )
        rows = int(requests.name.split("-")[1].split(".")[0])
        return run(
            "materialize-sqlite (whole path)",
            rows,
            [sys.executable, "-m", "materialize_sqlite"],
            stdin=requests,
        )

    return once


def _raw(docs: Path, database: Path, rows: int) -> Callable[[], Measured]:
    def once() -> Measured:
        for f in database.parent.glob(database.name + "*"):
            f.unlink()
        script = BENCH / "materialize" / "raw_sqlite.py"
        return run(
            "raw loop (executemany, 1 txn)", rows, [sys.executable, str(script), str(docs), str(database)]
        )

    return once


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="100,000 documents, one run each")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-dlt", action="store_true")
    args = parser.parse_args()
    count, repeat = (100_000, 1) if args.quick else (args.count, args.repeat)
    WORK.mkdir(parents=True, exist_ok=True)
    database = WORK / "bench.db"
    spec = materialization({"path": str(database)}, {"table": "items"}, ["items"])

    print(f"materialize-sqlite: {count:,} documents of 15 fields, transactions of 50,000, SQLite {database}")
    results: dict[str, Measured] = {}
    small = max(count // 10, 1)
    for n in sorted({small, count}):
        requests, docs = write_inputs(WORK, spec, n)
        ours = best(repeat, _connector(requests, database, spec))
        raw = best(repeat, _raw(docs, database, n))
        results[f"ours-{n}"], results[f"raw-{n}"] = ours, raw
        print(f"{n:,} documents:")
        print(ours.line())
        print(raw.line())
        if n == count and not args.no_dlt and (python := dlt_python()) is not None:
            dlt_db = WORK / "dlt.db"
            for f in WORK.glob("dlt.db*"):
                f.unlink()
            pipelines = WORK / "dlt-pipelines"
            shutil.rmtree(pipelines, ignore_errors=True)
            env = {**os.environ, "RUNTIME__LOG_LEVEL": "WARNING"}
            script = BENCH / "materialize" / "dlt_load.py"
            results["dlt"] = run(
                "dlt (sqlalchemy/sqlite, merge)",
                n,
                [str(python), str(script), str(docs), f"sqlite:///{dlt_db}", str(pipelines)],
                env=env,
            )
            print(results["dlt"].line())

    ours, raw = results[f"ours-{count}"], results[f"raw-{count}"]
    print("ratios (same run):")
    print(
        f"  ours / raw loop: {ours.rows_per_second / raw.rows_per_second:.0%} rows/s, "
        f"{ours.rows_per_cpu_second / raw.rows_per_cpu_second:.0%} per CPU-s (target >= 60%)"
    )
    if "dlt" in results:
        dlt = results["dlt"]
        print(
            f"  ours / dlt: {ours.rows_per_second / dlt.rows_per_second:.1f}x rows/s, "
            f"{ours.rows_per_cpu_second / dlt.rows_per_cpu_second:.1f}x per CPU-s (target > 1x)"
        )
    if small != count:
        rss = ours.peak_rss_mb / results[f"ours-{small}"].peak_rss_mb
        print(f"  peak RSS {count:,} / {small:,} documents: {rss:.2f}x (target < 1.2x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
