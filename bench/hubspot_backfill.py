"""Benchmark: source-hubspot-native backfilling contacts with 400 properties (and their
associated companies) from the fake HubSpot of source-hubspot-native/tests/fake_hubspot.

Three measurements (issue 14):

1. **Limits on** (HubSpot's documented 110 requests / 10 s, search 5 / s): the connector's
   backfill code (its page function, documents serialized as the kit serializes them) in this
   process against the fake, both on one `EventClock` (bench/_event_clock.py): time runs with
   real time, so the connector's work counts; a wait really waits, and when every task waits the
   clock jumps to the first deadline, so waits overlap work as they would without being sat
   through; and the clock stands still while the fake handles a request, because that is
   HubSpot's work, done on HubSpot's machines. (The time-lapse `FakeClock` used before added
   waits to concurrent work and charged the fake's CPU, most of this process's, to the run: the
   share it printed followed the machine's load, 48% at load 7 and 99% at load 0.5.) Each run
   models HubSpot's latency per request (`--latency-ms`, default 0, 100 and 150 ms) as a wait.
   Printed: records/s, requests sent, 429s received, and records/s as a share of the most the
   limits allow for this request pattern: R requests need at least (R - 110) / 11 s after the
   initial burst, so the bound is records / that. With a latency L, the list cursor being
   opaque, the chain of P pages alone needs P x L s: that bound is printed too.
2. **Limits on, the whole capture**: the connector as a real process under `flowctl preview`
   (only `contacts` bound, real time), where the backfill shares the budget with the binding's
   realtime polls (the general budget) and delayed searches (their own): records/s from
   flowctl's start, requests by kind, 429s, at each `--capture-intervals` (the binding's polling
   interval; test.flow.yaml's and discover's default is PT0S: realtime polls back to back).
3. **Limits off**: the connector as a real process under `flowctl preview` (only `contacts`
   bound), the fake served from a thread of this process: records/s, the connector's CPU
   seconds per 1,000 records and its peak RSS (VmHWM), at half and all of the records, to show
   RSS does not grow with them.

Usage (from the repository root; re-executes itself in source-hubspot-native/.venv if needed):
    python bench/hubspot_backfill.py [--contacts 25000] [--quick] [--latency-ms 0,100,150]
        [--capture-intervals PT0S,PT5S]
"""

# bench-venv: source-hubspot-native

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

CONNECTOR_DIR = Path(__file__).resolve().parent.parent / "source-hubspot-native"
VENV_PYTHON = CONNECTOR_DIR / ".venv" / "bin" / "python"
TARGET_SHARE = 0.90
TARGET_429_RATIO = 0.01
BURST, PER_SECOND = 110, 11.0

sys.path.insert(0, str(CONNECTOR_DIR / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
try:
    import psutil
    from _event_clock import EventClock
    from estuary_cdk.capture._model_json import model_json
    from estuary_cdk.testing import open_http_session, serve_app, serve_app_in_thread
    from fake_hubspot import FakeHubSpot, Sizes, make_app
    from flow import catalog_for
    from source_hubspot_native.api.crm_backfill import PageReader, fetch_crm_page
    from source_hubspot_native.api.objects import STANDARD_TYPES
    from source_hubspot_native.api.properties import Properties
    from source_hubspot_native.config import EndpointConfig
    from source_hubspot_native.models import CRMObject
    from source_hubspot_native.resources import connect
except ImportError:  # not in the connector's venv: re-run there
    if not VENV_PYTHON.exists() or os.environ.get("HUBSPOT_BENCH_REEXEC"):
        sys.exit(f"run `poetry install` in {CONNECTOR_DIR} first")
    os.environ["HUBSPOT_BENCH_REEXEC"] = "1"
    os.execv(str(VENV_PYTHON), [str(VENV_PYTHON), __file__, *sys.argv[1:]])

CONTACTS = next(t for t in STANDARD_TYPES if t.binding == "contacts")
LOG = logging.getLogger("bench")


def sizes(contacts: int) -> Sizes:
    return Sizes(
        contacts=contacts, contact_properties=400, contact_custom=40, companies=max(120, contacts // 50)
    )


@dataclass
class Limited:
    """The figures of one limits-on run."""

    latency: float
    records: int
    with_companies: int
    elapsed: float
    wall: float
    sent: int
    refused: int
    lists: int
    waited: float
    idle: float
    held: float
    held_turns: int

    @property
    def rate(self) -> float:
        return self.records / self.elapsed

    @property
    def bound_seconds(self) -> float:
        return max(0.0, (self.sent - BURST) / PER_SECOND)

    @property
    def bound(self) -> float:
        return self.records / self.bound_seconds if self.bound_seconds > 0 else float("inf")

    @property
    def share(self) -> float:
        return self.rate / self.bound if self.bound_seconds > 0 else 1.0


async def limited_backfill(clock: EventClock, contacts: int, latency: float) -> Limited:
    """The backfill of every contact through the connector's own page function, with each
    document serialized as the kit serializes captured documents (its CPU counts)."""
    fake = FakeHubSpot(seed=7, sizes=sizes(contacts), clock=clock, limits=True)
    app = make_app(fake)
    app.middlewares.insert(0, clock.hold_middleware())
    if latency > 0:
        app.middlewares.insert(0, clock.latency_middleware(latency))
    async with serve_app(app) as server, open_http_session(LOG, clock=clock) as http:
        config = EndpointConfig.model_validate(
            {
                "credentials": {
                    "credentials_title": "Private App Credentials",
                    "access_token": "pat-na1-fake-private-app-token",
                },
                "advanced": {"base_url": server.url},
            }
        )
        client = connect(http, config)
        properties = Properties(client)
        cutoff = clock.now()
        start, wall, held, turns, idle = (
            clock.monotonic(),
            time.monotonic(),
            clock.held,
            clock.held_turns,
            clock.jumps,
        )
        records, page, serialized = 0, None, 0
        reader = PageReader()
        with_companies = 0
        while True:
            cursor = None
            async for item in fetch_crm_page(client, properties, CONTACTS, False, reader, LOG, page, cutoff):
                if isinstance(item, CRMObject):
                    records += 1
                    serialized += len(model_json(item))
                    with_companies += bool(getattr(item, "companies", None))
                else:
                    cursor = item
            if cursor is None:
                break
            page = cursor
            await asyncio.sleep(0)  # the kit's backfill loop yields between pages, and checkpoints
        elapsed, wall = clock.monotonic() - start, time.monotonic() - wall
        waited = client.limits.waited()
    return Limited(
        latency=latency,
        records=records,
        with_companies=with_companies,
        elapsed=elapsed,
        wall=wall,
        sent=len(fake.status_log),
        refused=fake.status_log.count(429),
        lists=sum(1 for r in server.requests if r.path == "/crm/v3/objects/contacts"),
        waited=waited,
        idle=clock.jumps - idle,
        held=clock.held - held,
        held_turns=clock.held_turns - turns,
    )


def report_limited(run: Limited) -> None:
    server = (
        f"HubSpot's latency modeled at {run.latency * 1000:.0f} ms per request"
        if run.latency
        else ("HubSpot answering at once")
    )
    print(f"limits on ({server}):")
    print(
        f"  {run.records:,} contacts ({run.with_companies:,} with associated companies) in {run.elapsed:.1f}s of "
        f"the run's timeline ({run.wall:.1f}s real): {run.rate:,.0f} records/s"
    )
    print(
        f"  requests sent: {run.sent:,} ({run.lists:,} list pages in "
        f"{run.lists / max(1, -(-run.records // 100)):.1f} property chunks each); 429s received: {run.refused} "
        f"({run.refused / run.sent:.2%}; target < {TARGET_429_RATIO:.0%})"
    )
    print(
        f"  the limits allow at most {run.bound:,.0f} records/s for this pattern ({run.sent:,} requests need "
        f"{run.bound_seconds:.1f}s after a burst of {BURST}); achieved {run.share:.1%} "
        f"(target >= {TARGET_SHARE:.0%})"
    )
    if run.latency:
        chain = -(-run.records // 100) * run.latency
        print(
            f"  the list cursor is opaque, so pages are read one after another: at {run.latency * 1000:.0f} ms a "
            f"page, the page chain alone needs {chain:.1f}s ({run.records / chain:,.0f} records/s at most, "
            f"whatever the limits); achieved {run.rate / min(run.bound, run.records / chain):.1%} of the lower "
            "of the two bounds"
        )
    print(
        f"  every task was waiting (on the limits or on HubSpot) {run.idle:.1f}s of the {run.elapsed:.1f}s; "
        "the fake's request "
        f"handling ({run.held:.1f}s real, {1000 * run.held / max(1, run.sent):.0f} ms per request) is HubSpot's "
        f"work, off the timeline ({run.held_turns} loop turns taken while it held the clock: 0 = exact)"
    )


async def limited_runs(clock: EventClock, contacts: int, latencies: list[float]) -> list[Limited]:
    return [await limited_backfill(clock, contacts, latency) for latency in latencies]


def _connector(flowctl: psutil.Process) -> psutil.Process | None:
    for child in flowctl.children(recursive=True):
        try:
            if "source_hubspot_native" in " ".join(child.cmdline()):
                return child
        except psutil.Error:
            continue
    return None


def _peak_rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


@dataclass
class Preview:
    """The figures of one `flowctl preview` of the contacts binding."""

    records: int
    seconds: float
    cpu: float  # the connector's CPU seconds
    rss: float  # its peak RSS, MB
    flowctl_cpu: float
    fake_cpu: float  # this process's CPU seconds: the fake's
    requests: Counter[str]  # API requests by path
    refused: int  # 429s


def preview_run(contacts: int, limits: bool = False, interval: str | None = None) -> Preview:
    """A preview of `contacts` by the connector process, the fake's limits on or off, the
    binding polled every `interval` (test.flow.yaml's PT0S if None)."""
    fake = FakeHubSpot(seed=7, sizes=sizes(contacts), limits=limits)
    with serve_app_in_thread(lambda: make_app(fake)) as server, tempfile.TemporaryDirectory() as tmp:
        catalog = catalog_for(server, Path(tmp), bindings=["contacts"], interval=interval)
        out = Path(tmp) / "out.jsonl"
        env = {**os.environ, "PATH": f"{VENV_PYTHON.parent}:{os.environ.get('PATH', '')}"}
        started = time.monotonic()
        own = psutil.Process().cpu_times()
        with out.open("w") as sink:
            proc = subprocess.Popen(
                [
                    "flowctl",
                    "preview",
                    "--source",
                    str(catalog),
                    "--until-caught-up",
                    "--caught-up-idle",
                    "2s",
                ],
                cwd=CONNECTOR_DIR,
                stdout=sink,
                stderr=subprocess.DEVNULL,
                env=env,
            )
            flowctl = psutil.Process(proc.pid)
            rss, cpu, runtime = 0.0, 0.0, 0.0
            lock = threading.Lock()
            while proc.poll() is None:
                try:
                    times = flowctl.cpu_times()
                    runtime = max(runtime, times.user + times.system)
                except psutil.Error:
                    pass
                child = _connector(flowctl)
                if child is not None:
                    try:
                        times = child.cpu_times()
                        with lock:
                            cpu = max(cpu, times.user + times.system)
                            rss = max(rss, _peak_rss_mb(child.pid))
                    except psutil.Error:
                        pass
                time.sleep(0.1)
        seconds = time.monotonic() - started - 2.0  # less the caught-up idle
        after = psutil.Process().cpu_times()
        fake_cpu = (after.user + after.system) - (own.user + own.system)
        records = sum(1 for line in out.read_text().splitlines() if line.startswith('["acmeCo/contacts"'))
        requests = Counter(r.path for r in server.requests if not r.path.startswith(("/_fake/", "/oauth/")))
    return Preview(records, seconds, cpu, rss, runtime, fake_cpu, requests, fake.status_log.count(429))


def report_capture(run: Preview, interval: str) -> None:
    """A whole capture under the limits: the backfill shares the budget with the binding's
    realtime polls (general budget) and delayed searches (search budget)."""
    lists = run.requests["/crm/v3/objects/contacts"]
    recent = run.requests["/contacts/v1/lists/recently_updated/contacts/recent"]
    searches = sum(c for path, c in run.requests.items() if path.endswith("/search"))
    general = sum(run.requests.values()) - searches
    print(
        f"  interval {interval}: {run.records:,} contacts in {run.seconds:.1f}s (from flowctl's start): "
        f"{run.records / run.seconds:,.0f} records/s; {general:,} requests on the general budget: {lists:,} "
        f"backfill pages, {recent:,} realtime polls ({recent / max(1, general):.0%}), "
        f"{general - lists - recent:,} others (discover, properties); {searches:,} searches (delayed, their own "
        f"budget); 429s {run.refused}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--contacts", type=int, default=25_000)
    parser.add_argument("--quick", action="store_true", help="10,000 contacts (CI-sized)")
    parser.add_argument(
        "--latency-ms",
        default="0,100,150",
        help="comma-separated modeled HubSpot latencies per request for the limits-on runs (default 0,100,150)",
    )
    parser.add_argument(
        "--capture-intervals",
        default="PT0S,PT5S",
        help="the binding's polling intervals for the whole-capture runs under the limits (default PT0S,PT5S)",
    )
    args = parser.parse_args()
    contacts = 10_000 if args.quick else args.contacts
    latencies = [float(ms) / 1000 for ms in args.latency_ms.split(",") if ms.strip()]
    logging.basicConfig(level=logging.WARNING)
    clock = EventClock()
    with asyncio.Runner(loop_factory=clock.loop_factory) as runner:
        for run in runner.run(limited_runs(clock, contacts, latencies)):
            report_limited(run)
    print(
        "limits on, the whole capture: the connector process under flowctl preview (contacts only), real "
        "time, its realtime and delayed streams running beside the backfill"
    )
    for interval in args.capture_intervals.split(","):
        report_capture(preview_run(contacts, limits=True, interval=interval.strip()), interval.strip())
    print("limits off: the connector process under flowctl preview (contacts only)")
    for count in (contacts // 2, contacts):
        off = preview_run(count)
        print(
            f"  {off.records:,} contacts in {off.seconds:.1f}s: {off.records / off.seconds:,.0f} records/s; "
            f"connector CPU {off.cpu:.1f}s ({1000 * off.cpu / max(1, off.records):.2f}s per 1,000 records); peak "
            f"RSS {off.rss:.0f} MB; CPU of flowctl {off.flowctl_cpu:.1f}s, of the fake {off.fake_cpu:.1f}s"
        )


if __name__ == "__main__":
    main()
