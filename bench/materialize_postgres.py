"""Benchmark: documents through materialize-postgres's whole path, next to a raw COPY loop and dlt.
# bench-venv: materialize-postgres

N documents of 15 fields, in transactions of 50,000, go through the connector as a runtime sends
them (open, then acknowledge / flush / store... / startCommit requests from a file on stdin) into
a private PostgreSQL cluster this script starts (estuary_cdk.testing.postgres: initdb on a free
port, fsync off for every contender alike). Its tables were created by an Apply first (not
timed). In the same run:

* the raw loop (`materialize/raw_postgres.py`): read the same documents, build the same rows and
  COPY them in one transaction with psycopg — the least any loader must do;
* dlt (PyPI `dlt[postgres]`, in its own venv under bench/.work/) loading the same documents with
  merge on `id`.

Figures: rows/s (wall time of the process, start-up included; the server's CPU is not counted, it
is the same database work for all), CPU seconds and peak RSS of the process, best of `--repeat`
for the two fast ones; then the ratios. Targets (issue 10): ahead of dlt; >= 50% of raw COPY;
peak RSS at N < 1.2x that at N/10.

    python bench/materialize_postgres.py [--count 1000000] [--quick] [--repeat 3] [--no-dlt]
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
WORK = BENCH / ".work" / "materialize-postgres"
sys.path.insert(0, str(BENCH / "materialize"))

import orjson  # noqa: E402
from estuary_cdk.testing.postgres import PostgresServer, start_postgres  # noqa: E402
from measure import Measured, best, dlt_python, run  # noqa: E402
from workload import materialization, write_inputs  # noqa: E402


def _connector(
    server: PostgresServer, requests: Path, spec: dict[str, object], rows: int
) -> Callable[[], Measured]:
    def once() -> Measured:
        server.psql(
            "DROP TABLE IF EXISTS public.items; DROP TABLE IF EXISTS public.flow_checkpoints_v1", "bench"
        )
        apply = orjson.dumps({"apply": {"materialization": spec, "version": "bench"}}) + b"\n"
        subprocess.run(
            [sys.executable, "-m", "materialize_postgres"], input=apply, check=True, capture_output=True
        )
        return run(
            "materialize-postgres (whole path)",
            rows,
            [sys.executable, "-m", "materialize_postgres"],
            stdin=requests,
        )

    return once


def _raw(server: PostgresServer, docs: Path, rows: int) -> Callable[[], Measured]:
    def once() -> Measured:
        script = BENCH / "materialize" / "raw_postgres.py"
        return run(
            "raw loop (COPY, 1 txn)", rows, [sys.executable, str(script), str(docs), server.conninfo("bench")]
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

    with start_postgres() as server:
        server.create_database("bench")
        config = {
            "address": server.address,
            "user": server.user,
            "password": server.password,
            "database": "bench",
        }
        spec = materialization(config, {"table": "items"}, ["public", "items"])
        print(
            f"materialize-postgres: {count:,} documents of 15 fields, transactions of 50,000, server {server.address}"
        )
        results: dict[str, Measured] = {}
        small = max(count // 10, 1)
        for n in sorted({small, count}):
            requests, docs = write_inputs(WORK, spec, n)
            ours = best(repeat, _connector(server, requests, spec, n))
            raw = best(repeat, _raw(server, docs, n))
            results[f"ours-{n}"], results[f"raw-{n}"] = ours, raw
            print(f"{n:,} documents:")
            print(ours.line())
            print(raw.line())
            if n == count and not args.no_dlt and (python := dlt_python()) is not None:
                pipelines = WORK / "dlt-pipelines"
                shutil.rmtree(pipelines, ignore_errors=True)
                server.psql(
                    "DROP SCHEMA IF EXISTS bench CASCADE; DROP SCHEMA IF EXISTS bench_staging CASCADE",
                    "bench",
                )
                url = f"postgresql://{server.user}:{server.password}@{server.host}:{server.port}/bench"
                script = BENCH / "materialize" / "dlt_load.py"
                env = {**os.environ, "RUNTIME__LOG_LEVEL": "WARNING"}
                results["dlt"] = run(
                    "dlt (postgres, merge)",
                    n,
                    [str(python), str(script), str(docs), url, str(pipelines)],
                    env=env,
                )
                print(results["dlt"].line())

    ours, raw = results[f"ours-{count}"], results[f"raw-{count}"]
    print("ratios (same run):")
    print(
        f"  ours / raw COPY: {ours.rows_per_second / raw.rows_per_second:.0%} rows/s, "
        f"{ours.rows_per_cpu_second / raw.rows_per_cpu_second:.0%} per CPU-s (target >= 50%)"
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
