"""Benchmark: backfill throughput of the HTTP layer vs a raw aiohttp + orjson loop.

A local server (a separate process, so it doesn't share the client's core) serves N dict
records in pages of 1,000 (`/items?offset=&limit=`, pre-rendered). Two clients fetch every page
sequentially and walk every record:

* raw:  aiohttp.ClientSession().get() + orjson.loads, nothing else;
* kit:  estuary_cdk's HTTPMixin (rate limiter, retry policy, token-less auth path, secret-safe
        error handling) driven by `OffsetPaginator.fetch`, exactly as a `fetch_page` would, with
        each record yielded through an async generator like a fetch function yields documents.

Each client runs `--rounds` times alternately; the best round of each is reported (the machine
may be shared). Target (issue 3): kit >= 75% of raw records/s.

    python bench/http_backfill.py [--records 200000] [--page 1000] [--rounds 3] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import multiprocessing
import os
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "estuary-cdk"))

import aiohttp
import orjson
from aiohttp import web
from estuary_cdk.http import HTTPMixin
from estuary_cdk.paginators import OffsetPaginator


def _record(i: int) -> dict:
    return {
        "id": i,
        "type": "story",
        "by": f"user{i % 977}",
        "time": 1_700_000_000 + i,
        "title": f"Item number {i} with a moderately long title",
        "url": f"https://example.com/items/{i}",
        "score": i % 500,
        "descendants": i % 37,
        "kids": [i * 3 + 1, i * 3 + 2],
        "dead": False,
    }


def _serve(total: int, page: int, port_queue: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    pages = {
        offset: orjson.dumps(
            {"items": [_record(i) for i in range(offset, min(total, offset + page))], "total": total}
        )
        for offset in range(0, total, page)
    }
    empty = orjson.dumps({"items": [], "total": total})

    async def items(request: web.Request) -> web.Response:
        body = pages.get(int(request.query.get("offset", "0")), empty)
        return web.Response(body=body, content_type="application/json")

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/items", items)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port_queue.put(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
        await asyncio.Event().wait()

    asyncio.run(main())


async def raw_client(base: str, total: int, page: int) -> int:
    count = 0
    async with aiohttp.ClientSession() as session:
        for offset in range(0, total, page):
            async with session.get(f"{base}/items", params={"offset": offset, "limit": page}) as resp:
                data = orjson.loads(await resp.read())
            for _record in data["items"]:
                count += 1
    return count


async def kit_client(base: str, total: int, page: int) -> int:
    log = logging.getLogger("bench")
    http = HTTPMixin()
    await http._mixin_enter(log)
    pager = OffsetPaginator(limit=page, records="items", total="total")

    async def fetch_page(cursor: int | str | None) -> AsyncIterator[dict | int | str]:
        result = await pager.fetch(http, log, f"{base}/items", cursor)
        for doc in result.records:
            yield doc
        if result.next_cursor is not None:
            yield result.next_cursor

    count = 0
    cursor: int | str | None = None
    try:
        while True:
            following = None
            async for item in fetch_page(cursor):
                if isinstance(item, dict):
                    count += 1
                else:
                    following = item
            if following is None:
                break
            cursor = following
    finally:
        await http._mixin_exit(log)
    return count


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--page", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="50,000 records")
    args = parser.parse_args()
    if args.quick or os.environ.get("BENCH_QUICK"):
        args.records = min(args.records, 50_000)

    ctx = multiprocessing.get_context("fork")
    ports: multiprocessing.Queue = ctx.Queue()  # type: ignore[type-arg]
    server = ctx.Process(target=_serve, args=(args.records, args.page, ports), daemon=True)
    server.start()
    try:
        base = f"http://127.0.0.1:{ports.get(timeout=60)}"
        best: dict[str, float] = {}
        best_cpu: dict[str, float] = {}
        clients = [("raw", raw_client), ("kit", kit_client)]
        for round_no in range(args.rounds):
            # Alternate which client goes first, so neither always runs on a warmer machine.
            for name, client in clients if round_no % 2 == 0 else clients[::-1]:
                started, cpu_started = time.perf_counter(), time.process_time()
                count = asyncio.run(client(base, args.records, args.page))
                elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
                if count != args.records:
                    raise SystemExit(f"{name} client saw {count} records, expected {args.records}")
                best[name] = max(best.get(name, 0.0), count / elapsed)
                best_cpu[name] = max(best_cpu.get(name, 0.0), count / max(cpu, 1e-9))
    finally:
        server.terminate()
        server.join()

    ratio = best["kit"] / best["raw"]
    cpu_ratio = best_cpu["kit"] / best_cpu["raw"]
    print(
        f"backfill of {args.records:,} dict records in pages of {args.page:,} (best of {args.rounds} rounds)"
    )
    print(
        f"  raw aiohttp + orjson : {best['raw']:>10,.0f} records/s wall, {best_cpu['raw']:>10,.0f} per client CPU-s"
    )
    print(
        f"  estuary_cdk (kit)    : {best['kit']:>10,.0f} records/s wall, {best_cpu['kit']:>10,.0f} per client CPU-s"
    )
    print(f"  kit / raw (wall)     : {ratio:>10.1%}   (target >= 75%): {'PASS' if ratio >= 0.75 else 'FAIL'}")
    print(f"  kit / raw (CPU)      : {cpu_ratio:>10.1%}   (less sensitive to other load on the machine)")


if __name__ == "__main__":
    main()
