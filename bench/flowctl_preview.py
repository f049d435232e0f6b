"""Benchmark: `flowctl preview` throughput (documents/second, including schema validation and
key combining) and peak RSS, for two run lengths (memory must track the transaction size, not
the run length).

The connector is a plain Python script emitting plain-dict documents as fast as it can. Their
JSON is prepared before the run (json.dumps of plain dicts) and sent with sendfile, so the
connector costs almost no CPU and the figures are flowctl's. A checkpoint follows every
`--checkpoint-every` documents; ~10% of documents repeat an earlier key of the same sequence, so
combining has work to do. Every combined document is validated against the collection schema.
A third run uses the Python CDK's schema pattern (root `merge` reduction under if/then/else), so
colliding documents are deep-merged through the annotation machinery.

    flowctl/.venv/bin/python bench/flowctl_preview.py [--count 300000] [--delay 1s]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FLOWCTL = REPO / "flowctl" / ".venv" / "bin" / "flowctl"

CONNECTOR = r"""
import json, os, sys
SPEC = {"protocol": 3032023, "configSchema": {"type": "object"}, "documentationUrl": "https://example.com",
        "resourceConfigSchema": {"type": "object", "properties": {"name": {"type": "string"}}},
        "resourcePathPointers": ["/name"]}
def out(obj):
    sys.stdout.write(json.dumps(obj) + "\n"); sys.stdout.flush()
def main():
    for line in sys.stdin:
        req = json.loads(line)
        if "spec" in req: out({"spec": SPEC})
        elif "validate" in req:
            out({"validated": {"bindings": [{"resourcePath": [b["resourceConfig"]["name"]]} for b in req["validate"]["bindings"]]}})
        elif "apply" in req: out({"applied": {}})
        elif "open" in req:
            out({"opened": {}})
            with open(req["open"]["capture"]["config"]["data"], "rb") as f:
                size, sent = os.fstat(f.fileno()).st_size, 0
                while sent < size:
                    sent += os.sendfile(1, f.fileno(), sent, size - sent)
            return
main()
"""

SCHEMA = """type: object
properties:
  id: {type: integer}
  name: {type: string}
  score: {type: number}
  active: {type: boolean}
  tags: {type: array, items: {type: string}}
  _meta:
    type: object
    properties:
      op: {enum: [c, u, d]}
      row_id: {type: integer}
      uuid: {type: string}
    required: [op]
required: [id, name, _meta]
"""

# The Python CDK's deletion pattern: documents sharing a key are deep-merged (not replaced).
CDK_MERGE = """
if: {required: [_meta], properties: {_meta: {required: [op], properties: {op: {const: d}}}}}
then: {reduce: {strategy: merge, delete: true}}
else: {reduce: {strategy: merge}}
"""


def write_data(path: Path, count: int, every: int) -> None:
    """The connector's output for one session."""
    with path.open("w") as f:
        buf: list[str] = []
        for start in range(0, count, every):
            end = min(count, start + every)
            for i in range(start, end):
                key = i - 7 if i % 10 == 9 and i - 7 >= start else i
                doc = {
                    "id": key,
                    "name": f"user-{i}",
                    "score": i % 1000 + 0.5,
                    "active": True,
                    "tags": ["a", "b"],
                    "_meta": {"op": "u", "row_id": i},
                }
                buf.append(json.dumps({"captured": {"binding": 0, "doc": doc}}, separators=(",", ":")))
            state = {"updated": {"bindingStateV1": {"docs": {"cursor": end}}}, "mergePatch": True}
            buf.append(json.dumps({"checkpoint": {"state": state}}, separators=(",", ":")))
            if len(buf) > 10000:
                f.write("\n".join(buf) + "\n")
                buf.clear()
        if buf:
            f.write("\n".join(buf) + "\n")


def write_catalog(root: Path, count: int, every: int, merge: bool = False) -> Path:
    (root / "connector.py").write_text(CONNECTOR)
    (root / "docs.schema.yaml").write_text(SCHEMA + (CDK_MERGE if merge else ""))
    write_data(root / "data.jsonl", count, every)
    catalog = root / "flow.yaml"
    catalog.write_text(
        f"""collections:
  bench/docs:
    schema: docs.schema.yaml
    key: [/id]
captures:
  bench/source:
    endpoint:
      local:
        command: [{sys.executable}, connector.py]
        config: {{data: {root / "data.jsonl"}}}
    bindings:
      - resource: {{name: docs}}
        target: bench/docs
"""
    )
    return catalog


def _peak_rss_watch(pid: int, result: dict[str, int], stop: threading.Event) -> None:
    """VmHWM of the flowctl process (its own peak RSS), sampled until it exits."""
    path = f"/proc/{pid}/status"
    while not stop.is_set():
        try:
            with open(path) as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        result["hwm_kib"] = max(result.get("hwm_kib", 0), int(line.split()[1]))
        except OSError:
            return
        time.sleep(0.02)


def run(count: int, every: int, delay: str | None, merge: bool = False) -> tuple[int, float, float, float]:
    """(lines printed, wall seconds, peak RSS MiB, CPU seconds of flowctl and its connector)."""
    with tempfile.TemporaryDirectory(prefix="flowctl-bench-") as tmp:
        catalog = write_catalog(Path(tmp), count, every, merge)
        argv = [str(FLOWCTL), "preview", "--source", str(catalog)]
        if delay:
            argv += ["--delay", delay]
        errors = Path(tmp) / "stderr.log"  # a file: an unread stderr pipe could stall flowctl
        start = time.perf_counter()
        with errors.open("wb") as err_file:
            proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=err_file)
        result: dict[str, int] = {}
        stop = threading.Event()
        watcher = threading.Thread(target=_peak_rss_watch, args=(proc.pid, result, stop), daemon=True)
        watcher.start()
        lines = 0
        assert proc.stdout is not None
        while chunk := proc.stdout.read(1 << 20):
            lines += chunk.count(b"\n")
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
        stop.set()
        code = os.waitstatus_to_exitcode(status)
        proc.returncode = code
        if code != 0:
            sys.exit(f"flowctl preview failed ({code}): {errors.read_text(errors='replace')[-2000:]}")
        return lines, elapsed, result.get("hwm_kib", 0) / 1024, usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--count", type=int, default=300_000, help="documents in the short run (the long run has 3x)"
    )
    parser.add_argument("--checkpoint-every", type=int, default=1000)
    parser.add_argument("--delay", default=None, help="pass --delay to preview (bigger transactions)")
    args = parser.parse_args()
    if not FLOWCTL.exists():
        sys.exit(f"{FLOWCTL} not found: run `poetry install` in flowctl/ first")
    print(f"flowctl preview benchmark (cpus={os.cpu_count()}, checkpoint every {args.checkpoint_every} docs)")
    print(
        f"  load average {os.getloadavg()[0]:.1f} at start: wall-clock rates suffer on a busy machine, docs per CPU-second do not"
    )
    runs = [(args.count, False), (args.count * 3, False), (args.count, True)]
    for count, merge in runs:
        lines, elapsed, rss, cpu = run(count, args.checkpoint_every, args.delay, merge)
        label = "merge-reduced" if merge else "last-write-wins"
        print(
            f"  {label:<15} run of {count:>9,} docs: {lines:>9,} combined docs printed in {elapsed:6.2f}s wall "
            f"({cpu:6.2f}s CPU) = {count / elapsed:>9,.0f} docs/s, {count / cpu:>9,.0f} docs per CPU-second; "
            f"flowctl peak RSS {rss:6.1f} MiB"
        )


if __name__ == "__main__":
    main()
