"""Benchmark: what a hostile API costs a connector on the kit's default settings (issue 16).

A local server (a separate process) plays the hostile API with `estuary_cdk.testing`'s faults.
Each case runs in a fresh client process on a default `HTTPMixin`.

Memory: peak RSS (`ru_maxrss`) of a client that reads a 1 GiB JSON body whole, chunked and with
a `Content-Length`, and a gzip body that decompresses to 1 GiB; "idle" is the same process after
importing the kit and one small request. Goal: peak <= 2x idle. Streaming the 1 GiB body
(`request_stream`, the documented way past the ceiling) is shown for contrast.

Time to a clear error, for each wait that used to have no end: connection refused, a body cut
short, a connection closed without an answer, 503 forever, 429 forever, a day-long
`Retry-After`, headers that never come, a body that drips a byte at a time, a server that stops
mid-body. The client's clock is a time-lapse `FakeClock`: backoff and rate-limit sleeps are
skipped but counted, network waits are real, so the figure is the request's timeline with the
default settings. By default every time setting (the kit's limits and retry policy, and the
server's pauses) is scaled by `--scale 0.01` and the figure divided back by it, so the whole
run takes seconds; `--scale 1` runs the real defaults (about ten minutes, cases in parallel).

    python bench/http_hostile.py [--scale 0.01] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import resource
import subprocess
import sys
import time
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

sys.path.insert(0, os.environ.get("BENCH_KIT") or str(Path(__file__).resolve().parents[1] / "estuary-cdk"))

from _local_server import local_server
from aiohttp import web
from estuary_cdk.http import HTTPError, HTTPLimits, RetryPolicy
from estuary_cdk.testing import (
    FakeClock,
    FaultPlan,
    GzipBomb,
    HugeBody,
    RequestLog,
    open_http_session,
    unused_url,
)
from estuary_cdk.testing._faults import make_middleware

GiB = 1 << 30
MEMORY_CASES = ["huge-chunked", "huge-length", "gzip-bomb", "stream-huge"]
TIME_CASES = [
    "refused",
    "truncated",
    "closed-without-answer",
    "503-forever",
    "429-forever",
    "retry-after-a-day",
    "headers-never",
    "body-drips",
    "stops-mid-body",
]
_RESULT = "BENCH_RESULT"


def _app(scale: float) -> web.Application:
    """The hostile API: one path per case (server-side pauses scaled like the client's)."""
    plan = FaultPlan()
    plan.truncate_body(path="/truncated", times=None)
    plan.disconnect(path="/closed-without-answer", times=None)
    plan.status(503, path="/503-forever", times=None, body=b"upstream error")
    plan.rate_limit(path="/429-forever", times=None, retry_after=f"{10 * scale:g}")
    plan.rate_limit(path="/retry-after-a-day", times=None, retry_after=f"{86400 * scale:g}")
    plan.latency(100_000 * scale, path="/headers-never", times=None)
    plan.slow_body(5 * scale, chunk_bytes=1, path="/body-drips", times=None)
    plan.stall_body(path="/stops-mid-body", times=None, seconds=100_000 * scale)

    async def page(request: web.Request) -> web.Response:
        return web.json_response({"items": list(range(1000))})

    app = web.Application(middlewares=[make_middleware(plan, RequestLog())])
    app.router.add_get("/small", page)
    for case in (
        "/truncated",
        "/closed-without-answer",
        "/503-forever",
        "/429-forever",
        "/retry-after-a-day",
    ):
        app.router.add_get(case, page)
    for case in ("/headers-never", "/body-drips", "/stops-mid-body"):
        app.router.add_get(case, page)
    app.router.add_get("/huge-chunked", HugeBody(GiB).respond)
    app.router.add_get("/stream-huge", HugeBody(GiB).respond)
    app.router.add_get("/huge-length", HugeBody(GiB, declare_length=True).respond)
    app.router.add_get("/gzip-bomb", GzipBomb(GiB).respond)
    return app


def _scaled(scale: float) -> tuple[HTTPLimits, RetryPolicy]:
    """The default limits and retry policy with every time setting multiplied by `scale`."""
    limits = HTTPLimits()
    limits = replace(
        limits,
        **{
            f.name: getattr(limits, f.name) * scale
            for f in fields(limits)
            if f.name.endswith(("_timeout", "_after")) and f.name != "ratio_check_after"
        },
    )
    policy = RetryPolicy()
    policy = replace(
        policy,
        base_delay=policy.base_delay * scale,
        max_delay=policy.max_delay * scale,
        max_retry_time=(policy.max_retry_time or 0) * scale,
        max_server_wait=policy.max_server_wait * scale,
        max_rate_limited_time=(policy.max_rate_limited_time or 0) * scale,
    )
    return limits, policy


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


async def _client(case: str, base: str, scale: float) -> dict[str, Any]:
    log = logging.getLogger("bench")
    log.setLevel(logging.ERROR)
    clock = FakeClock(real_time=True)
    limits, policy = _scaled(scale) if case in TIME_CASES else (HTTPLimits(), RetryPolicy())
    async with open_http_session(log, clock=clock, retry_policy=policy, limits=limits) as http:
        await http.request(log, f"{base}/small")
        idle = _rss_mb()
        url = unused_url("/refused") if case == "refused" else f"{base}/{case}"
        started, real = clock.monotonic(), time.perf_counter()
        error = ""
        try:
            if case == "stream-huge":
                _, body = await http.request_stream(log, url)
                size = 0
                async for chunk in body():
                    size += len(chunk)
                error = f"(no error: streamed {size / GiB:.2f} GiB)"
            else:
                await http.request(log, url)
                error = "(no error?)"
        except HTTPError as exc:
            error = exc.message.splitlines()[0]
        return {
            "idle": idle,
            "peak": _rss_mb(),
            "timeline": clock.monotonic() - started,
            "real": time.perf_counter() - real,
            "error": error,
        }


def _spawn(case: str, base: str, scale: float) -> subprocess.Popen[bytes]:
    argv = [sys.executable, __file__, "--as-client", case, base, str(scale)]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _result(case: str, proc: subprocess.Popen[bytes]) -> dict[str, Any]:
    out, err = proc.communicate(timeout=3600)
    line = next((x for x in out.decode().splitlines() if x.startswith(_RESULT)), None)
    if proc.returncode != 0 or line is None:
        raise SystemExit(f"{case}: client exited {proc.returncode}: {err.decode()[-500:]}")
    return json.loads(line[len(_RESULT) :])


def _shorten(text: str, width: int = 150) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--as-client":
        result = asyncio.run(_client(sys.argv[2], sys.argv[3], float(sys.argv[4])))
        print(_RESULT + json.dumps(result), flush=True)
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--scale", type=float, default=0.01, help="multiply every time setting (1 = real defaults)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="the same (the run is short at the default scale)"
    )
    args = parser.parse_args()
    scale = args.scale

    with local_server(lambda: _app(scale)) as base:
        memory = {case: _result(case, _spawn(case, base, 1.0)) for case in MEMORY_CASES}
        procs = {case: _spawn(case, base, scale) for case in TIME_CASES}  # in parallel: waits, not work
        timing = {case: _result(case, proc) for case, proc in procs.items()}

    print("peak RSS of one request to a hostile API, default HTTPLimits (fresh process each):")
    for case, r in memory.items():
        ratio = r["peak"] / r["idle"]
        verdict = "" if case == "stream-huge" else f"  (goal <= 2x idle): {'PASS' if ratio <= 2 else 'FAIL'}"
        print(f"  {case:<14} idle {r['idle']:6.1f} MB  peak {r['peak']:6.1f} MB = {ratio:4.2f}x{verdict}")
        print(f"  {'':<14} -> {_shorten(r['error'])}")
    label = "real defaults" if scale == 1 else f"every time setting x{scale:g}, figures divided back"
    print(f"time to a clear error, default RetryPolicy and HTTPLimits ({label}):")
    for case, r in timing.items():
        print(f"  {case:<22} {r['timeline'] / scale:9.1f} s   -> {_shorten(r['error'])}")


if __name__ == "__main__":
    main()
