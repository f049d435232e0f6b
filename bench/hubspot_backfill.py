"""Benchmark: source-hubspot-native backfilling contacts with 400 properties (and their
associated companies) from the fake HubSpot of source-hubspot-native/tests/fake_hubspot.

Two measurements (issue 14):

1. **Limits on** (HubSpot's documented 110 requests / 10 s, search 5 / s): the connector's
   backfill code in this process against the fake, both on one time-lapse `FakeClock`: real
   time runs on it, and every wait (the rate limiter's, a Retry-After) is skipped but added to
   it, on the connector's side and the fake's alike. The fake's token buckets therefore refill
   exactly as they would, and the elapsed time is the run's real timeline, without sitting
   through the waits. Printed: records/s, requests sent, 429s received, and records/s as a
   share of the most the limits allow for this request pattern: R requests need at least
   (R - 110) / 11 s after the initial burst, so the bound is records / that.
2. **Limits off**: the connector as a real process under `flowctl preview` (only `contacts`
   bound), the fake served from a thread of this process: records/s, the connector's CPU
   seconds per 1,000 records and its peak RSS (VmHWM), at half and all of the records, to show
   RSS does not grow with them.

Usage (from the repository root; re-executes itself in source-hubspot-native/.venv if needed):
    python bench/hubspot_backfill.py [--contacts 25000] [--quick]
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
from pathlib import Path

CONNECTOR_DIR = Path(__file__).resolve().parent.parent / "source-hubspot-native"
VENV_PYTHON = CONNECTOR_DIR / ".venv" / "bin" / "python"
TARGET_SHARE = 0.90
TARGET_429_RATIO = 0.01
BURST, PER_SECOND = 110, 11.0

sys.path.insert(0, str(CONNECTOR_DIR / "tests"))
try:
    import psutil
    from estuary_cdk.testing import FakeClock, open_http_session, serve_app, serve_app_in_thread
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


async def limited_backfill(contacts: int) -> None:
    clock = FakeClock(real_time=True)
    built = time.monotonic()
    fake = FakeHubSpot(seed=7, sizes=sizes(contacts), clock=clock, limits=True)
    print(
        f"limits on: fake account of {contacts:,} contacts x 400 properties built in {time.monotonic() - built:.1f}s"
    )
    async with serve_app(make_app(fake)) as server, open_http_session(LOG, clock=clock) as http:
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
        start, wall = clock.monotonic(), time.monotonic()
        records, page = 0, None
        reader = PageReader()
        with_companies = 0
        while True:
            cursor = None
            async for item in fetch_crm_page(client, properties, CONTACTS, False, reader, LOG, page, cutoff):
                if isinstance(item, CRMObject):
                    records += 1
                    with_companies += bool(getattr(item, "companies", None))
                else:
                    cursor = item
            if cursor is None:
                break
            page = cursor
        elapsed, wall = clock.monotonic() - start, time.monotonic() - wall
        waited = client.limits.waited()
    sent = len(fake.status_log)
    refused = fake.status_log.count(429)
    lists = sum(1 for r in server.requests if r.path == "/crm/v3/objects/contacts")
    bound_seconds = max(0.0, (sent - BURST) / PER_SECOND)
    rate = records / elapsed
    bound = records / bound_seconds if bound_seconds > 0 else float("inf")
    share = rate / bound if bound_seconds > 0 else 1.0
    print(
        f"  {records:,} contacts ({with_companies:,} with associated companies) in {elapsed:.1f}s of the run's "
        f"timeline ({wall:.1f}s real, waits skipped): {rate:,.0f} records/s"
    )
    print(
        f"  requests sent: {sent:,} ({lists:,} list pages in {lists / max(1, -(-records // 100)):.1f} property "
        f"chunks each); 429s received: {refused} ({refused / sent:.2%}; target < {TARGET_429_RATIO:.0%})"
    )
    print(
        f"  the limits allow at most {bound:,.0f} records/s for this pattern ({sent:,} requests need "
        f"{bound_seconds:.1f}s after a burst of {BURST}); achieved {share:.1%} (target >= {TARGET_SHARE:.0%})"
    )
    busy = elapsed - waited
    print(
        f"  the connector waited on the limits {waited:.1f}s of the {elapsed:.1f}s; the rest is this process's work "
        f"(the fake rendering and the connector parsing {busy / max(1, sent):.3f}s per request; the list "
        "cursor is opaque, so a page is asked for once the previous one has arrived, one page ahead at most)"
    )


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


def unlimited_run(contacts: int) -> tuple[int, float, float, float, float, float]:
    """Records, seconds, connector CPU seconds, peak RSS (MB), and the CPU seconds of flowctl and
    of this process (the fake) during a preview of `contacts`."""
    fake = FakeHubSpot(seed=7, sizes=sizes(contacts))
    with serve_app_in_thread(lambda: make_app(fake)) as server, tempfile.TemporaryDirectory() as tmp:
        catalog = catalog_for(server, Path(tmp), bindings=["contacts"])
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
    return records, seconds, cpu, rss, runtime, fake_cpu


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--contacts", type=int, default=25_000)
    parser.add_argument("--quick", action="store_true", help="10,000 contacts (CI-sized)")
    args = parser.parse_args()
    contacts = 10_000 if args.quick else args.contacts
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(limited_backfill(contacts))
    print("limits off: the connector process under flowctl preview (contacts only)")
    for count in (contacts // 2, contacts):
        records, seconds, cpu, rss, runtime, fake_cpu = unlimited_run(count)
        print(
            f"  {records:,} contacts in {seconds:.1f}s: {records / seconds:,.0f} records/s; connector CPU "
            f"{cpu:.1f}s ({1000 * cpu / max(1, records):.2f}s per 1,000 records); peak RSS {rss:.0f} MB; "
            f"CPU of flowctl {runtime:.1f}s, of the fake {fake_cpu:.1f}s"
        )


if __name__ == "__main__":
    main()
