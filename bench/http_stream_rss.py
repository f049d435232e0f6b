"""Benchmark: peak RSS while streaming a 1 GB JSON array response through the kit.

A local server (separate process) generates `{"items": [ ...records... ], "next": "done"}` on the
fly in chunked encoding — nothing close to 1 GB is ever held by either side. The client (this
process) opens it with `HTTPMixin.request_stream` and pulls every record through
`IncrementalJsonProcessor` (prefix `items.item`, validated as a pydantic model; `--remainder`
also rebuilds `{"items": [], "next": ..., "count": ...}`), checking ids arrive complete and in
order. Peak RSS of the client process (`ru_maxrss`) is reported, along with its
baseline before streaming. Target (issue 3): peak RSS <= ~100 MB.

    python bench/http_stream_rss.py [--megabytes 1024] [--remainder] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "estuary-cdk"))

import orjson
from _local_server import local_server
from aiohttp import web
from estuary_cdk.http import HTTPMixin
from estuary_cdk.incremental_json_processor import IncrementalJsonProcessor
from pydantic import BaseModel

BATCH = 1000


def _batch(start: int) -> bytes:
    records = [
        {
            "id": i,
            "type": "comment",
            "by": f"user{i % 9973}",
            "time": 1_700_000_000 + i,
            "text": "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor.",
            "parent": i // 3,
            "kids": [i + 1, i + 2, i + 3],
        }
        for i in range(start, start + BATCH)
    ]
    # "[{..},{..}]" -> "{..},{..}": the batch joins the surrounding array.
    return orjson.dumps(records)[1:-1]


def _app(total_bytes: int) -> web.Application:
    async def export(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        await resp.write(b'{"items": [')
        sent, start = 0, 0
        while sent < total_bytes:
            chunk = (b"," if start else b"") + _batch(start)
            await resp.write(chunk)
            sent += len(chunk)
            start += BATCH
        await resp.write(b'], "next": "done", "count": ' + str(start).encode() + b"}")
        await resp.write_eof()
        return resp

    app = web.Application()
    app.router.add_get("/export", export)
    return app


class Record(BaseModel):
    id: int
    by: str
    time: int


class Tail(BaseModel):
    next: str | None = None
    count: int = 0


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


async def stream(base: str, remainder: bool) -> tuple[int, Tail | None]:
    log = logging.getLogger("bench")
    http = HTTPMixin()
    await http._mixin_enter(log)
    try:
        _, body = await http.request_stream(log, f"{base}/export")
        processor: IncrementalJsonProcessor[Record, Tail] = (
            IncrementalJsonProcessor(body(), "items.item", Record, remainder_cls=Tail)
            if remainder
            else IncrementalJsonProcessor(body(), "items.item", Record)
        )
        count = 0
        async for record in processor:
            if record.id != count:
                raise SystemExit(f"record {record.id} arrived where {count} was expected")
            count += 1
        return count, processor.get_remainder() if remainder else None
    finally:
        await http._mixin_exit(log)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--megabytes", type=int, default=1024)
    parser.add_argument("--quick", action="store_true", help="a 128 MB response")
    parser.add_argument(
        "--remainder", action="store_true", help="also rebuild the remainder (slower: Python-level events)"
    )
    args = parser.parse_args()
    if args.quick or os.environ.get("BENCH_QUICK"):
        args.megabytes = min(args.megabytes, 128)

    with local_server(lambda: _app(args.megabytes << 20)) as base:
        baseline = _rss_mb()
        started = time.perf_counter()
        count, tail = asyncio.run(stream(base, args.remainder))
        elapsed = time.perf_counter() - started

    peak = _rss_mb()
    if count == 0 or count % BATCH:
        raise SystemExit(f"incomplete stream: {count} records")
    if tail is not None and (tail.next != "done" or tail.count != count):
        raise SystemExit(f"remainder mismatch: {tail} after {count} records")
    print(f"streamed a {args.megabytes:,} MB JSON array response: {count:,} records in {elapsed:.1f} s")
    print(f"  throughput        : {args.megabytes / elapsed:>8.1f} MB/s, {count / elapsed:>10,.0f} records/s")
    print(f"  RSS before stream : {baseline:>8.1f} MB")
    print(f"  peak RSS          : {peak:>8.1f} MB   (target <= ~100 MB): {'PASS' if peak <= 100 else 'FAIL'}")


if __name__ == "__main__":
    main()
