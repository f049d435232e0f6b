"""Benchmark: page-level concurrency with `buffer_ordered` vs sequential fetching.

A local server (separate process) answers each page of 100 records after 20 ms of latency, like
a remote API. The kit's HTTPMixin fetches N pages (by page number) either one after another, or
through `estuary_cdk.buffer_ordered` with concurrency 8, which keeps results in page order.
Both runs check every record arrives exactly once and in order. For comparison it also prints a
plain `asyncio.gather` + `Semaphore` window (what the machine allows at that concurrency) and the
kit's `PageNumberPaginator.pages_ahead` (ordered prefetching built on `buffer_ordered`).
Target (issue 3): concurrency 8 >= 6x the records/s of sequential.

    python bench/http_concurrency.py [--pages 200] [--latency 0.02] [--concurrency 8] [--rounds 3] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import time
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "estuary-cdk"))

import orjson
from _local_server import local_server
from aiohttp import web
from estuary_cdk.buffer_ordered import buffer_ordered
from estuary_cdk.http import HTTPMixin
from estuary_cdk.paginators import PageNumberPaginator

PAGE_SIZE = 100


def _app(pages: int, latency: float) -> web.Application:
    bodies = [
        orjson.dumps(
            [{"id": p * PAGE_SIZE + i, "title": f"record {p * PAGE_SIZE + i}"} for i in range(PAGE_SIZE)]
        )
        for p in range(pages)
    ]

    async def page(request: web.Request) -> web.Response:
        await asyncio.sleep(latency)
        n = int(request.query["page"])
        return web.Response(body=bodies[n] if n < len(bodies) else b"[]", content_type="application/json")

    app = web.Application()
    app.router.add_get("/page", page)
    return app


async def _fetch(http: HTTPMixin, log: logging.Logger, base: str, page: int) -> list[dict]:
    return orjson.loads(await http.request(log, f"{base}/page", params={"page": page}))


async def run(base: str, pages: int, concurrency: int) -> list[int]:
    log = logging.getLogger("bench")
    http = HTTPMixin()
    await http._mixin_enter(log)
    ids: list[int] = []
    try:
        if concurrency == 0:  # the kit's paginator, prefetching 8 pages ahead
            pager = PageNumberPaginator(start=0, page_size=PAGE_SIZE)
            async for page in pager.pages_ahead(http, log, f"{base}/page", concurrency=8):
                ids.extend(r["id"] for r in page.records)
        elif concurrency < 0:  # a plain semaphore window (unordered completion), for comparison
            gate = asyncio.Semaphore(-concurrency)

            async def gated(page: int) -> list[dict]:
                async with gate:
                    return await _fetch(http, log, base, page)

            for records in await asyncio.gather(*(gated(page) for page in range(pages))):
                ids.extend(r["id"] for r in records)
        elif concurrency <= 1:
            for page in range(pages):
                ids.extend(r["id"] for r in await _fetch(http, log, base, page))
        else:

            async def requests() -> AsyncIterator[Awaitable[list[dict]]]:
                for page in range(pages):
                    yield _fetch(http, log, base, page)

            async for records in buffer_ordered(requests(), concurrency):
                ids.extend(r["id"] for r in records)
    finally:
        await http._mixin_exit(log)
    return ids


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.02)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3, help="best of this many runs of each variant")
    parser.add_argument("--quick", action="store_true", help="80 pages, 2 rounds")
    args = parser.parse_args()
    if args.quick or os.environ.get("BENCH_QUICK"):
        args.pages, args.rounds = min(args.pages, 80), min(args.rounds, 2)

    expected = list(range(args.pages * PAGE_SIZE))
    rates: dict[int, float] = {}
    with local_server(lambda: _app(args.pages, args.latency)) as base:
        for _ in range(args.rounds):
            for concurrency in (1, args.concurrency, 0, -args.concurrency):
                started = time.perf_counter()
                ids = asyncio.run(run(base, args.pages, concurrency))
                elapsed = time.perf_counter() - started
                if ids != expected:
                    raise SystemExit(
                        f"concurrency {concurrency}: records missing, duplicated or out of order"
                    )
                rates[concurrency] = max(rates.get(concurrency, 0.0), len(ids) / elapsed)

    ratio = rates[args.concurrency] / rates[1]
    print(
        f"{args.pages} pages of {PAGE_SIZE} records, {args.latency * 1000:.0f} ms latency per request "
        f"(best of {args.rounds} runs each)"
    )
    print(f"  sequential               : {rates[1]:>9,.0f} records/s")
    print(f"  buffer_ordered (conc. {args.concurrency}) : {rates[args.concurrency]:>9,.0f} records/s")
    print(f"  speed-up                 : {ratio:>9.2f}x   (target >= 6x): {'PASS' if ratio >= 6 else 'FAIL'}")
    print(
        f"  PageNumberPaginator.pages_ahead(concurrency=8): {rates[0]:>9,.0f} records/s ({rates[0] / rates[1]:.2f}x)"
    )
    window = rates[-args.concurrency]
    print(
        f"  for comparison: asyncio.gather + Semaphore({args.concurrency}) window: {window:,.0f} records/s "
        f"({window / rates[1]:.2f}x)"
    )


if __name__ == "__main__":
    main()
