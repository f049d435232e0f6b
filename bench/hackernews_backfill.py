"""Benchmark: source-hackernews backfilling items from the local fake API.

The fake API runs in the benchmark's process with a fixed latency per request (10 ms by
default); the connector runs as a real process driven by flowctl's capture session, as `flowctl
preview` runs it (only `items` bound; source-hackernews/tests/flow_session.py), and the time from
its first committed transaction to the completed backfill is measured. Peak RSS is the
connector's VmHWM. Figures printed:

* items/second at concurrency 1, 8 and 32 (1 and 8 backfill a slice of the ids: at 10 ms per
  request they are latency bound, and a slice measures the same rate in less time);
* peak RSS at concurrency 32 for half and all of the items, to show it does not grow with them.

Usage (from the repository root; re-executes itself in source-hackernews/.venv if needed):
    python bench/hackernews_backfill.py [--items 200000] [--latency-ms 10] [--quick]
"""

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

CONNECTOR_DIR = Path(__file__).resolve().parent.parent / "source-hackernews"
VENV_PYTHON = CONNECTOR_DIR / ".venv" / "bin" / "python"
TARGET_ITEMS_PER_SECOND = 2000

sys.path.insert(0, str(CONNECTOR_DIR / "tests"))
try:
    import psutil
    from aiohttp import web
    from flow_session import Session, run_session
    from source_hackernews.fake_api import FakeHackerNews, make_lowlevel_server
except ImportError:  # not in the connector's venv: re-run there
    if not VENV_PYTHON.exists() or os.environ.get("HN_BENCH_REEXEC"):
        sys.exit(f"run `poetry install` in {CONNECTOR_DIR} first")
    os.environ["HN_BENCH_REEXEC"] = "1"
    os.execv(str(VENV_PYTHON), [str(VENV_PYTHON), __file__, *sys.argv[1:]])


async def _start_server(items: int, latency_ms: float) -> tuple[web.ServerRunner, str]:
    """The fake API on aiohttp's bare server, in this process's event loop (next to the cheap
    protocol reader), so the connector competes with one process instead of two."""
    runner = web.ServerRunner(make_lowlevel_server(FakeHackerNews(items=items), latency_ms=latency_ms))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


def _backfill_done(session: Session) -> bool:
    items = session.state.get("bindingStateV1", {}).get("items", {})
    return bool(session.transactions) and "backfill" not in items and "last_initialized" in items


def _connector_pid() -> int:
    """The connector process flowctl started (a child of this process)."""
    for child in psutil.Process().children(recursive=True):
        if "source_hackernews" in child.cmdline():
            return child.pid
    return 0


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _peak_rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except FileNotFoundError:
        pass
    return float("nan")


async def _backfill(url: str, maxitem: int, count: int, concurrency: int) -> tuple[int, float, float, float]:
    """Backfill the last `count` ids; returns (items captured, seconds, peak RSS MiB, connector
    CPU seconds)."""
    config = {"base_url": url, "concurrency": concurrency, "start_id": maxitem - count + 1}
    started: float | None = None
    pid = 0
    peak = cpu = cpu_at_start = float("nan")

    def on_commit(session: Session) -> None:
        nonlocal started, pid, peak, cpu, cpu_at_start
        if started is None:
            started = time.perf_counter()
            pid = _connector_pid()
            cpu_at_start = _cpu_seconds(pid)
        if _backfill_done(session):
            peak = _peak_rss_mb(pid)
            cpu = _cpu_seconds(pid) - cpu_at_start

    session = await run_session(
        config,
        {},
        _backfill_done,
        bindings=["items"],
        intervals={"items": "PT1H"},
        max_seconds=3600,
        on_commit=on_commit,
        keep_documents=False,
    )
    elapsed = time.perf_counter() - (started or time.perf_counter())
    if not _backfill_done(session):
        last = [log.message for log in session.logs[-5:]]
        raise RuntimeError(f"backfill did not complete: {last}")
    return session.committed_count, elapsed, peak, cpu


def _report(concurrency: int, captured: int, seconds: float, rss: float, cpu: float) -> None:
    print(
        f"  concurrency {concurrency:>2}: {captured:>7,} items in {seconds:7.2f} s = "
        f"{captured / seconds:8,.0f} items/s, peak RSS {rss:6.1f} MiB, "
        f"connector CPU {1e6 * cpu / captured:4.0f} us/item"
    )


async def _main(args: argparse.Namespace) -> None:
    items = args.items or (20_000 if args.quick else 200_000)
    server, url = await _start_server(items, args.latency_ms)
    try:
        print(
            f"source-hackernews backfill: fake API with {items:,} items, {args.latency_ms:g} ms latency per request"
        )
        slices = {1: 300 if args.quick else 1_000, 8: 2_000 if args.quick else 10_000}
        rates: dict[int, float] = {}
        for concurrency, count in slices.items():
            captured, seconds, rss, cpu = await _backfill(url, items, min(items, count), concurrency)
            rates[concurrency] = captured / seconds
            _report(concurrency, captured, seconds, rss, cpu)
        half_captured, half_seconds, half_rss, half_cpu = await _backfill(url, items, items // 2, 32)
        _report(32, half_captured, half_seconds, half_rss, half_cpu)
        captured, seconds, full_rss, cpu = await _backfill(url, items, items, 32)
        rates[32] = captured / seconds
        _report(32, captured, seconds, full_rss, cpu)
        print(
            f"  peak RSS at concurrency 32: {half_rss:.1f} MiB for {half_captured:,} items, "
            f"{full_rss:.1f} MiB for {captured:,} items"
        )
        verdict = "meets" if rates[32] >= TARGET_ITEMS_PER_SECOND else "MISSES"
        print(
            f"  concurrency 32 {verdict} the {TARGET_ITEMS_PER_SECOND:,} items/s target ({rates[32]:,.0f} items/s)"
        )
    finally:
        await server.cleanup()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--items", type=int, default=0, help="items in the fake API (default 200,000; 20,000 with --quick)"
    )
    p.add_argument("--latency-ms", type=float, default=10.0)
    p.add_argument("--quick", action="store_true", help="smaller run for CI / make bench")
    asyncio.run(_main(p.parse_args()))


if __name__ == "__main__":
    main()
