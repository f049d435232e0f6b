"""Benchmark: `flowctl preview` throughput (documents/second, including schema validation and
key combining) and peak RSS, for two run lengths (memory must track the transaction size, not
the run length).

The connector is a plain Python script that writes plain-dict documents as fast as it can:
every `--checkpoint-every` documents a checkpoint; ~10% of documents repeat an earlier key of the
same sequence, so combining has work to do.

    flowctl/.venv/bin/python bench/flowctl_preview.py [--count 300000]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FLOWCTL = REPO / "flowctl" / ".venv" / "bin" / "flowctl"

CONNECTOR = r'''
import json, sys
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
            cfg = req["open"]["capture"]["config"]
            count, every = cfg["count"], cfg["every"]
            out({"opened": {}})
            w = sys.stdout.write
            buf = []
            for start in range(0, count, every):
                end = min(count, start + every)
                for i in range(start, end):
                    k = i - 7 if i % 10 == 9 and i - 7 >= start else i
                    buf.append('{"captured":{"binding":0,"doc":{"id":%d,"name":"user-%d","score":%d.5,"active":true,"tags":["a","b"],"_meta":{"op":"u","row_id":%d}}}}\n' % (k, i, i % 1000, i))
                buf.append('{"checkpoint":{"state":{"updated":{"bindingStateV1":{"docs":{"cursor":%d}}},"mergePatch":true}}}\n' % end)
                if len(buf) > 4096:
                    w("".join(buf)); buf.clear()
            w("".join(buf)); sys.stdout.flush()
            return
main()
'''

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


def write_catalog(root: Path, count: int, every: int) -> Path:
    (root / "connector.py").write_text(CONNECTOR)
    (root / "docs.schema.yaml").write_text(SCHEMA)
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
        config: {{count: {count}, every: {every}}}
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


def run(count: int, every: int, delay: str | None) -> tuple[int, float, float]:
    with tempfile.TemporaryDirectory(prefix="flowctl-bench-") as tmp:
        catalog = write_catalog(Path(tmp), count, every)
        argv = [str(FLOWCTL), "preview", "--source", str(catalog)]
        if delay:
            argv += ["--delay", delay]
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        result: dict[str, int] = {}
        stop = threading.Event()
        watcher = threading.Thread(target=_peak_rss_watch, args=(proc.pid, result, stop), daemon=True)
        watcher.start()
        lines = 0
        assert proc.stdout is not None
        while chunk := proc.stdout.read(1 << 20):
            lines += chunk.count(b"\n")
        _, err = proc.communicate()
        elapsed = time.perf_counter() - start
        stop.set()
        if proc.returncode != 0:
            sys.exit(f"flowctl preview failed ({proc.returncode}): {err.decode()[-2000:]}")
        return lines, elapsed, result.get("hwm_kib", 0) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=300_000, help="documents in the short run (the long run has 3x)")
    parser.add_argument("--checkpoint-every", type=int, default=1000)
    parser.add_argument("--delay", default=None, help="pass --delay to preview (bigger transactions)")
    args = parser.parse_args()
    if not FLOWCTL.exists():
        sys.exit(f"{FLOWCTL} not found: run `poetry install` in flowctl/ first")
    print(f"flowctl preview benchmark (cpus={os.cpu_count()}, checkpoint every {args.checkpoint_every} docs)")
    for count in (args.count, args.count * 3):
        lines, elapsed, rss = run(count, args.checkpoint_every, args.delay)
        print(
            f"  run of {count:>9,} docs: {lines:>9,} combined docs printed in {elapsed:6.2f}s "
            f"= {count / elapsed:>9,.0f} docs/s in, {lines / elapsed:>9,.0f} docs/s out; flowctl peak RSS {rss:6.1f} MiB"
        )


if __name__ == "__main__":
    main()
