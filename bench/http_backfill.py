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

End to end (unless `--no-e2e`), each as its own process writing protocol lines to a file:

* raw emitter: aiohttp + orjson fetch, then every record written as a `captured` line with
  orjson (plus a checkpoint line per page) — the least any capture must do;
* connector:   a real estuary_cdk capture connector (BaseCaptureConnector + HTTPMixin, a
  `fetch_page` driving `OffsetPaginator`) served an `open` request on stdin, so records go
  through the engine, documents, checkpoints and the protocol output.

Throughput is timed inside each process from its first page request to the end of its output, so
interpreter start-up and imports don't count.

Before/after a change to the kit (`--baseline DIR`, DIR holding another `estuary-cdk` tree, e.g.
`git archive <commit> estuary-cdk | tar -x -C /tmp/before` then `--baseline /tmp/before/estuary-cdk`):
the kit client and the end-to-end connector also run on that tree, each kit in its own fresh
process, alternating with this tree's within every round, so both are measured in the same run
on the same machine state. `BENCH_KIT=DIR` runs the whole benchmark on another tree.

On a machine too busy for wall or CPU time to mean anything, `--instructions --baseline DIR`
counts instead the CPU instructions the kit client spends per page on each tree, under
valgrind's callgrind: each tree fetches 20 and 60 pages and the difference is divided by 40, so
interpreter start-up and imports cancel out (repeatable whatever else the machine runs).

    python bench/http_backfill.py [--records 200000] [--page 1000] [--rounds 5] [--no-e2e] [--quick]
                                  [--baseline DIR [--instructions]]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

# The kit measured: this repository's, unless BENCH_KIT names another tree (`--baseline` runs
# its subprocesses that way).
sys.path.insert(0, os.environ.get("BENCH_KIT") or str(Path(__file__).resolve().parents[1] / "estuary-cdk"))

import aiohttp
import estuary_cdk
import orjson
from _local_server import local_server
from aiohttp import web
from estuary_cdk.http import HTTPMixin
from estuary_cdk.paginators import OffsetPaginator

KIT = Path(estuary_cdk.__file__).resolve().parents[1]  # the tree actually imported


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


def _app(total: int, page: int) -> web.Application:
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

    app = web.Application()
    app.router.add_get("/items", items)
    return app


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


OPEN_REQUEST = (
    b'{"open":{"capture":{"name":"acmeCo/bench","connectorType":"IMAGE","config":{},"intervalSeconds":300,'
    b'"bindings":[{"resourceConfig":{"name":"items","interval":"PT0S"},"resourcePath":["items"],'
    b'"collection":{"name":"acmeCo/items","key":["/id"],"writeSchema":{}},"stateKey":"items","backfill":0}]},'
    b'"version":"bench","range":{"keyBegin":0,"keyEnd":4294967295,"rClockBegin":0,"rClockEnd":4294967295},'
    b'"state":{}}}\n'
)


# Set when the first page is requested: throughput is measured from there to the end of the
# output, so interpreter start-up and imports (which differ between the two) don't count.
_FIRST_REQUEST: list[float] = [0.0]
_ELAPSED_TAG = "BENCH_ELAPSED"


def _report_elapsed() -> None:
    print(f"{_ELAPSED_TAG} {time.perf_counter() - _FIRST_REQUEST[0]:.6f}", file=sys.stderr, flush=True)


def run_connector(base: str, page: int) -> None:
    """`--as-connector`: a minimal HTTP capture connector on the kit, served on stdin/stdout."""
    from datetime import UTC, datetime, timedelta
    from typing import Any

    from estuary_cdk.capture import BaseCaptureConnector, Request, common
    from estuary_cdk.capture.common import BaseDocument, Resource, ResourceConfig, ResourceState, open_binding
    from estuary_cdk.flow import ConnectorSpec
    from pydantic import BaseModel

    class EndpointConfig(BaseModel):
        pass

    class Connector(
        BaseCaptureConnector[EndpointConfig, ResourceConfig, common.ConnectorState[ResourceState]], HTTPMixin
    ):
        def request_class(self):  # type: ignore[no-untyped-def]
            return Request[EndpointConfig, ResourceConfig, common.ConnectorState[ResourceState]]

        def resources(self) -> list[Resource]:
            pager = OffsetPaginator(limit=page, records="items", total="total")

            async def fetch_page(log: logging.Logger, cursor: Any, cutoff: Any) -> AsyncIterator[Any]:
                _FIRST_REQUEST[0] = _FIRST_REQUEST[0] or time.perf_counter()
                result = await pager.fetch(self, log, f"{base}/items", cursor)
                for doc in result.records:
                    yield doc
                if result.next_cursor is not None:
                    yield result.next_cursor

            def open_items(binding: Any, index: int, state: Any, task: Any, all_bindings: Any) -> None:
                open_binding(binding, index, state, task, fetch_page=fetch_page)

            return [
                Resource(
                    name="items",
                    key=["/id"],
                    model=BaseDocument,
                    open=open_items,
                    initial_state=ResourceState(
                        backfill=ResourceState.Backfill(
                            next_page=None, cutoff=datetime(2030, 1, 1, tzinfo=UTC)
                        )
                    ),
                    initial_config=ResourceConfig(name="items", interval=timedelta(0)),
                    schema_inference=True,
                )
            ]

        async def spec(self, log: Any, _: Any) -> ConnectorSpec:
            return ConnectorSpec(
                documentationUrl="https://example.com",
                configSchema=EndpointConfig.model_json_schema(),
                resourceConfigSchema=ResourceConfig.model_json_schema(),
                resourcePathPointers=ResourceConfig.PATH_POINTERS,
            )

        async def discover(self, log: Any, discover: Any) -> Any:
            return common.discovered(self.resources())

        async def validate(self, log: Any, validate: Any) -> Any:
            return common.validated(common.resolve_bindings(validate.bindings, self.resources()))

        async def open(self, log: Any, open: Any) -> Any:
            return common.open(open, common.resolve_bindings(open.capture.bindings, self.resources()))

    asyncio.run(Connector().serve())
    sys.stdout.flush()
    _report_elapsed()


def run_raw_emitter(base: str, page: int) -> None:
    """`--as-raw`: fetch every page and write each record as a `captured` line, nothing else."""
    out = sys.stdout.buffer

    async def go() -> None:
        _FIRST_REQUEST[0] = time.perf_counter()
        async with aiohttp.ClientSession() as session:
            offset = 0
            while True:
                async with session.get(f"{base}/items", params={"offset": offset, "limit": page}) as resp:
                    data = orjson.loads(await resp.read())
                items = data["items"]
                out.write(
                    b"".join(b'{"captured":{"binding":0,"doc":' + orjson.dumps(r) + b"}}\n" for r in items)
                )
                offset += len(items)
                checkpoint = {"bindingStateV1": {"items": {"backfill": {"next_page": offset}}}}
                out.write(
                    orjson.dumps({"checkpoint": {"state": {"updated": checkpoint, "mergePatch": True}}})
                    + b"\n"
                )
                if len(items) < page or offset >= data["total"]:
                    break

    asyncio.run(go())
    out.flush()
    _report_elapsed()


def _kit_client_process(base: str, records: int, page: int) -> None:
    """`--as-kit-client`: the kit client alone, in a fresh process on the kit BENCH_KIT names;
    reports its wall and CPU seconds on stderr."""
    started, cpu_started = time.perf_counter(), time.process_time()
    count = asyncio.run(kit_client(base, records, page))
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    if count != records:
        raise SystemExit(f"kit client saw {count} records, expected {records}")
    print(f"{_ELAPSED_TAG} {elapsed:.6f} {cpu:.6f}", file=sys.stderr, flush=True)


def _subprocess_env(kit: Path | None) -> dict[str, str]:
    env = {**os.environ, "LOG_LEVEL": "warn"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(Path(__file__).resolve().parent / ".work" / "pycache")
    if kit is not None:
        env["BENCH_KIT"] = str(kit)
    return env


def _elapsed_fields(mode: str, proc: subprocess.CompletedProcess[bytes]) -> list[float]:
    stderr = proc.stderr.decode(errors="replace")
    if proc.returncode != 0:
        tail = stderr.strip().splitlines()[-3:]
        raise SystemExit(f"{mode} exited {proc.returncode}: {' | '.join(tail)}")
    line = next(line for line in stderr.splitlines() if line.startswith(_ELAPSED_TAG))
    return [float(field) for field in line.split()[1:]]


def _process_run(mode: str, base: str, page: int, out: Path, kit: Path | None = None) -> tuple[float, int]:
    """Seconds from the first page request to the end of the output of one process run, and the
    `captured` lines it wrote."""
    argv = [sys.executable, __file__, mode, base, "--page", str(page)]
    with out.open("wb") as sink:
        proc = subprocess.run(
            argv,
            input=OPEN_REQUEST,
            stdout=sink,
            stderr=subprocess.PIPE,
            env=_subprocess_env(kit),
            check=False,
            timeout=600,
        )
    elapsed = _elapsed_fields(mode, proc)[0]
    with out.open("rb") as f:
        captured = sum(line.startswith(b'{"captured":') for line in f)
    out.unlink()
    return elapsed, captured


def _kit_client_run(base: str, records: int, page: int, kit: Path) -> tuple[float, float]:
    """Wall and CPU seconds of the kit client on `kit`, in a fresh process."""
    argv = [sys.executable, __file__, "--as-kit-client", base, "--page", str(page), "--records", str(records)]
    proc = subprocess.run(argv, capture_output=True, env=_subprocess_env(kit), check=False, timeout=600)
    elapsed, cpu = _elapsed_fields("--as-kit-client", proc)
    return elapsed, cpu


def end_to_end(
    base: str, records: int, page: int, rounds: int, baseline: Path | None = None
) -> dict[str, float]:
    """Best documents/s of each process kind: the raw emitter, the connector on this kit and,
    with a baseline, the connector on that kit (key `--as-connector@baseline`)."""
    import tempfile

    runs: list[tuple[str, str, Path | None]] = [("--as-raw", "--as-raw", None)]
    runs.append(("--as-connector", "--as-connector", KIT))
    if baseline is not None:
        runs.append(("--as-connector@baseline", "--as-connector", baseline))
    rates: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.jsonl"
        for round_no in range(rounds):
            for name, mode, kit in runs if round_no % 2 == 0 else runs[::-1]:
                elapsed, captured = _process_run(mode, base, page, out, kit)
                if captured != records:
                    raise SystemExit(f"{name}: {captured} captured documents, expected {records}")
                rates[name] = max(rates.get(name, 0.0), records / elapsed)
    return rates


def compare_kits(
    base: str, records: int, page: int, rounds: int, baseline: Path
) -> dict[str, tuple[float, float]]:
    """Best records/s (wall, CPU) of the kit client on this tree and on `baseline`, each run in
    a fresh process, alternating which goes first."""
    kits = [("this", KIT), ("baseline", baseline)]
    best: dict[str, tuple[float, float]] = {}
    for round_no in range(rounds):
        for name, kit in kits if round_no % 2 == 0 else kits[::-1]:
            elapsed, cpu = _kit_client_run(base, records, page, kit)
            wall_rate, cpu_rate = best.get(name, (0.0, 0.0))
            best[name] = (max(wall_rate, records / elapsed), max(cpu_rate, records / max(cpu, 1e-9)))
    return best


def count_instructions(page: int, baseline: Path) -> dict[str, float]:
    """CPU instructions per page of the kit client on this tree and on `baseline` (callgrind,
    start-up excluded by measuring 20 and 60 pages)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent / "cdk_emit"))
    import instructions

    if not instructions.available():
        raise SystemExit("valgrind is not installed (Debian package valgrind): cannot count instructions")
    low, high = 20 * page, 60 * page
    with local_server(lambda: _app(low, page)) as at_low, local_server(lambda: _app(high, page)) as at_high:
        bases = {low: at_low, high: at_high}
        per_page: dict[str, float] = {}
        for name, kit in (("this", KIT), ("baseline", baseline)):

            def command(n: int, kit: Path = kit) -> tuple[list[str], dict[str, str], bytes | None]:
                argv = [__file__, "--as-kit-client", bases[n], "--page", str(page), "--records", str(n)]
                return [sys.executable, *argv], _subprocess_env(kit), None

            # Once outside callgrind first: the first run of a tree compiles its bytecode, which
            # would count in the first measured run only and skew the difference.
            argv, env, _ = command(low)
            subprocess.run(argv, env=env, capture_output=True, check=True, timeout=600)
            count = instructions.measure(name, command, low, high)
            if problem := getattr(count, "problem", None):  # the helper says when not to trust it
                raise SystemExit(f"instruction count of {name} ({kit}) not trusted: {problem}")
            per_page[name] = count.per_document * page
    return per_page


def _flag(name: str, default: int) -> int:
    return int(sys.argv[sys.argv.index(name) + 1]) if name in sys.argv else default


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] in ("--as-connector", "--as-raw", "--as-kit-client"):
        page = _flag("--page", 1000)
        if sys.argv[1] == "--as-kit-client":
            _kit_client_process(sys.argv[2], _flag("--records", 200_000), page)
        else:
            (run_connector if sys.argv[1] == "--as-connector" else run_raw_emitter)(sys.argv[2], page)
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--page", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="50,000 records")
    parser.add_argument("--no-e2e", action="store_true", help="skip the end-to-end connector comparison")
    parser.add_argument(
        "--baseline", type=Path, default=None, help="another estuary-cdk tree to compare this one with"
    )
    parser.add_argument(
        "--instructions", action="store_true", help="with --baseline: count instructions per page instead"
    )
    args = parser.parse_args()
    if args.quick or os.environ.get("BENCH_QUICK"):
        args.records = min(args.records, 50_000)
    baseline: Path | None = args.baseline.resolve() if args.baseline else None
    if baseline is not None and not (baseline / "estuary_cdk" / "__init__.py").exists():
        raise SystemExit(f"--baseline {baseline}: not an estuary-cdk tree (no estuary_cdk/__init__.py)")
    if args.instructions:
        if baseline is None:
            raise SystemExit("--instructions compares two trees: give --baseline DIR")
        counts = count_instructions(args.page, baseline)
        print(
            f"kit client, CPU instructions per page of {args.page:,} records (callgrind, start-up excluded):"
        )
        print(f"  this tree : {counts['this']:>14,.0f}")
        print(f"  baseline  : {counts['baseline']:>14,.0f}   ({baseline})")
        print(f"  this / baseline: {counts['this'] / counts['baseline']:.2%}")
        return

    with local_server(lambda: _app(args.records, args.page)) as base:
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
        kits = (
            compare_kits(base, args.records, args.page, args.rounds, baseline) if baseline is not None else {}
        )
        e2e = {} if args.no_e2e else end_to_end(base, args.records, args.page, min(args.rounds, 3), baseline)

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
    if kits:
        (this_wall, this_cpu), (base_wall, base_cpu) = kits["this"], kits["baseline"]
        print(f"this tree vs baseline {baseline}, kit client in fresh processes (best of {args.rounds}):")
        print(f"  this tree            : {this_wall:>10,.0f} records/s wall, {this_cpu:>10,.0f} per CPU-s")
        print(f"  baseline             : {base_wall:>10,.0f} records/s wall, {base_cpu:>10,.0f} per CPU-s")
        print(
            f"  this / baseline      : {this_wall / base_wall:>10.1%} wall, {this_cpu / base_cpu:>10.1%} CPU"
        )
    if e2e:
        e2e_ratio = e2e["--as-connector"] / e2e["--as-raw"]
        print("end to end, documents written as protocol lines (timed from the first request):")
        print(f"  raw fetch + orjson emit : {e2e['--as-raw']:>10,.0f} documents/s")
        print(f"  estuary_cdk connector   : {e2e['--as-connector']:>10,.0f} documents/s")
        print(
            f"  connector / raw         : {e2e_ratio:>10.1%}   (the gap is the engine + emit path per document;"
        )
        print("                                         see bench/cdk_emit.py for that path alone)")
        if "--as-connector@baseline" in e2e:
            base_rate = e2e["--as-connector@baseline"]
            print(f"  connector on baseline   : {base_rate:>10,.0f} documents/s")
            print(f"  this / baseline         : {e2e['--as-connector'] / base_rate:>10.1%}")


if __name__ == "__main__":
    main()
