"""Benchmark: end-to-end capture throughput of a real kit connector (source-hello-world with
`rate: 0`, i.e. generating greetings as fast as it can) — first the connector alone speaking the
protocol into a pipe, then through `flowctl preview` (validation, combining, printing).

    source-hello-world/.venv/bin/python bench/hello_world_preview.py [--count 300000] [--quick]

Figures: documents/second for each, the share flowctl keeps of the connector's own rate, and
the peak RSS of the largest process.
"""

# bench-venv: source-hello-world

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO

REPO = Path(__file__).resolve().parent.parent
CONNECTOR = REPO / "source-hello-world"
VENV_BIN = CONNECTOR / ".venv" / "bin"


def env() -> dict[str, str]:
    full = dict(os.environ)
    full["PATH"] = f"{VENV_BIN}{os.pathsep}{full.get('PATH', '')}"
    full["VIRTUAL_ENV"] = str(CONNECTOR / ".venv")
    full["LOG_LEVEL"] = "warn"
    return full


def open_request(config: dict) -> bytes:
    bindings = [
        {
            "collection": {"name": "acmeCo/greetings", "key": ["/id"]},
            "resourceConfig": {"name": "greetings"},
            "resourcePath": ["greetings"],
            "stateKey": "greetings",
        }
    ]
    capture = {"name": "acmeCo/bench", "connectorType": "LOCAL", "config": config, "bindings": bindings}
    return (
        json.dumps({"open": {"capture": capture, "version": "bench", "range": {}, "state": {}}}).encode()
        + b"\n"
    )


def count_lines(stream: IO[bytes], prefix: bytes) -> int:
    """Lines of `stream` that start with `prefix`, read until it closes."""
    count = 0
    pending = b""
    while chunk := stream.read1(1 << 20):  # type: ignore[attr-defined]
        lines = (pending + chunk).split(b"\n")
        pending = lines.pop()
        count += sum(1 for line in lines if line.startswith(prefix))
    return count


def connector_alone(config: dict) -> tuple[int, float]:
    """Documents/second of the connector writing into a pipe that is read as fast as possible."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        [str(VENV_BIN / "python"), "-m", "source_hello_world"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env(),
    )
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(open_request(config))
    proc.stdin.flush()
    captured = count_lines(proc.stdout, b'{"captured"')
    proc.stdin.close()
    if proc.wait() != 0:
        raise SystemExit("the connector failed")
    return captured, time.perf_counter() - started


def through_flowctl(config: dict, workdir: Path, stderr: IO[bytes]) -> tuple[int, float]:
    shutil.copy(CONNECTOR / "test.flow.yaml", workdir / "test.flow.yaml")
    shutil.copytree(CONNECTOR / "acmeCo", workdir / "acmeCo", dirs_exist_ok=True)
    (workdir / "config.yaml").write_text(json.dumps(config))
    started = time.perf_counter()
    proc = subprocess.Popen(
        [
            str(VENV_BIN / "flowctl"),
            "preview",
            "--source",
            str(workdir / "test.flow.yaml"),
            "--sessions",
            "-1",
        ],
        stdout=subprocess.PIPE,
        # A file, not a pipe: a pipe nobody reads until the end would stall flowctl once full.
        stderr=stderr,
        env=env(),
        cwd=workdir,
    )
    assert proc.stdout is not None
    documents = count_lines(proc.stdout, b'["acmeCo/greetings"')
    if proc.wait() != 0:
        stderr.seek(0)
        raise SystemExit(f"flowctl preview failed: {stderr.read().decode(errors='replace')[-2000:]}")
    return documents, time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=300_000, help="greetings to generate")
    parser.add_argument("--quick", action="store_true", help="a short run (what `make bench` does)")
    args = parser.parse_args()
    if not (VENV_BIN / "flowctl").exists():
        print("source-hello-world/.venv is missing: run `make install`", file=sys.stderr)
        return 1
    count = 50_000 if args.quick or os.environ.get("BENCH_QUICK") else args.count
    # No greetings table: only the generated stream is measured.
    config = {"rate": 0, "count": count, "history": 0}

    print(f"source-hello-world: {count:,} greetings, rate unlimited (1,000 per checkpoint)")
    alone, alone_s = connector_alone(config)
    assert alone == count, f"connector emitted {alone} of {count}"
    print(f"  connector alone (pipe)  : {alone / alone_s:>10,.0f} docs/s  ({alone_s:.2f} s incl. start-up)")

    with tempfile.TemporaryDirectory(prefix="bench-hello-") as tmp:
        with open(Path(tmp) / "flowctl.stderr", "w+b") as stderr:
            previewed, preview_s = through_flowctl(config, Path(tmp), stderr)
    # The catalog also binds `languages` (8 rows); only greetings are counted.
    assert previewed == count, f"flowctl printed {previewed} of {count} greetings"
    print(
        f"  through flowctl preview : {previewed / preview_s:>10,.0f} docs/s  ({preview_s:.2f} s incl. build)"
    )
    print(f"  flowctl keeps           : {alone_s / preview_s:>10.0%} of the connector's own rate")
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(f"  peak RSS (largest proc) : {peak_kib / 1024:>10.1f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
