"""Command line: serve the fake Hacker News API, optionally advancing it on a clock."""

import argparse
import asyncio
import sys

from aiohttp import web

from .app import make_app, make_lowlevel_server, random_faults_middleware
from .data import FakeHackerNews


def _parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m source_hackernews.fake_api", description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8088, help="0 picks a free port (printed on stdout)")
    p.add_argument("--items", type=int, default=1000, help="initial max item id")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--latency-ms", type=float, default=0.0, help="delay added to every API response")
    p.add_argument(
        "--fail-rate", type=float, default=0.0, help="fraction of API requests answered with a fault"
    )
    p.add_argument("--tick-seconds", type=float, default=0.0, help="advance the world this often (0: never)")
    p.add_argument("--new-per-tick", type=int, default=5)
    p.add_argument("--edits-per-tick", type=int, default=3)
    return p.parse_args(argv)


async def _serve(args: argparse.Namespace) -> None:
    data = FakeHackerNews(seed=args.seed, items=args.items)
    runner: web.AppRunner | web.ServerRunner
    if args.fail_rate > 0:
        faults = [random_faults_middleware(args.fail_rate, args.seed)]
        runner = web.AppRunner(
            make_app(data, latency_ms=args.latency_ms, middlewares=faults), access_log=None
        )
    else:
        runner = web.ServerRunner(make_lowlevel_server(data, latency_ms=args.latency_ms))
    await runner.setup()
    site = web.TCPSite(runner, args.host, args.port)
    await site.start()
    port = runner.addresses[0][1]
    print(f"http://{args.host}:{port}", flush=True)
    try:
        while True:
            if args.tick_seconds > 0:
                await asyncio.sleep(args.tick_seconds)
                data.advance(new_items=args.new_per_tick, edits=args.edits_per_tick)
            else:
                await asyncio.sleep(3600)
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> None:
    try:
        asyncio.run(_serve(_parse(sys.argv[1:] if argv is None else argv)))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
