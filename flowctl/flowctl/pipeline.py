"""`flowctl run`: a capture and the materializations of its collections, together on this
machine, through a durable local data plane (see dataplane.py) — Flow's architecture in small:
the capture commits documents to journals with its state before it is acknowledged; each
materialization reads the journals after its checkpoint and commits to its destination;
restarting either side loses and doubles nothing.

It stops when asked (SIGINT/SIGTERM/SIGHUP, or --timeout: the transactions in flight finish and
the sessions end gracefully; a second signal kills the connectors at once, see lifetime.py), or
with --until-caught-up once the capture's session has ended and every journal document is
materialized."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from . import lifetime
from .catalog import Catalog
from .dataplane import DataPlane, journal_name, source_key
from .errors import UsageError
from .logs import OpsLog
from .materializations import Materialization
from .materialize_preview import RESPONSE_TIMEOUT_SECONDS, read_through
from .pipeline_capture import JournalSink, run_capture
from .pipeline_materialize import MaterializationRunner, Signals
from .pipeline_stats import Progress, RunStats

DATA_PLANE_FILE = "dataplane.sqlite"


@dataclass
class RunOptions:
    capture: str | None = None
    materializations: list[str] = field(default_factory=list)
    state_dir: Path | None = None
    until_caught_up: bool = False
    timeout: float | None = None
    response_timeout: float = RESPONSE_TIMEOUT_SECONDS
    network: str | None = None


def default_state_dir(catalog: Catalog) -> Path:
    return Path(catalog.source).parent / ".flowctl"


def select_materializations(
    catalog: Catalog, names: list[str], collections: set[str]
) -> list[Materialization]:
    if names:
        return [catalog.materialization(n) for n in names]
    found = [
        m
        for m in catalog.materializations.values()
        if any(b.source in collections for b in m.bindings if not b.disable)
    ]
    if not found:
        raise UsageError(
            f"no materialization in {catalog.source} reads the collections of the capture ({', '.join(sorted(collections))})"
        )
    return sorted(found, key=lambda m: m.name)


def _low_water(plane: DataPlane, catalog: Catalog, collection: str) -> int | None:
    """The lowest position of any binding of the catalog reading `collection`; None when no
    binding reads it; -1 when one has not run yet (it needs everything)."""
    low: int | None = None
    for m in catalog.materializations.values():
        readers = [b for b in m.bindings if not b.disable and b.source == collection]
        if not readers:
            continue
        spec, _ = plane.last_spec(m.name)
        suffixes = [
            b["journalReadSuffix"]
            for b in (spec or {}).get("bindings", [])
            if b.get("collection", {}).get("name") == collection
        ]
        if len(suffixes) < len(readers):
            return -1
        checkpoint = plane.checkpoint(m.name) or {}
        for suffix in suffixes:
            position = read_through(checkpoint, source_key(collection, suffix))
            low = position if low is None else min(low, position)
    return low


def prune(plane: DataPlane, catalog: Catalog, collections: set[str]) -> None:
    """Drop journal entries that every binding reading them (in any materialization of the
    catalog) has materialized. A binding that never ran yet holds everything back; a
    collection nobody reads keeps nothing."""
    for collection in collections:
        low = _low_water(plane, catalog, collection)
        if low is None:
            plane.prune(collection, plane.head(collection))
        elif low > 0:
            plane.prune(collection, low)


async def run_pipeline(
    catalog: Catalog, options: RunOptions, on_log: Callable[[OpsLog], None], progress: Progress | None = None
) -> RunStats:
    progress = progress or Progress()
    capture = catalog.capture(options.capture)
    collections = {b.target for b in capture.bindings if not b.disable}
    materializations = select_materializations(catalog, options.materializations, collections)
    state_dir = options.state_dir or default_state_dir(catalog)
    plane = DataPlane(state_dir / DATA_PLANE_FILE)
    stats = RunStats()
    signals = Signals()
    progress.note(
        f"flowctl run: {capture.name} → {', '.join(m.name for m in materializations)} "
        f"(data plane {plane.path}; journals {', '.join(journal_name(c) for c in sorted(collections))})"
    )
    loop = asyncio.get_running_loop()

    def stop(reason: str) -> None:
        if not signals.stop.is_set():
            stats.stopped_by = reason
            progress.note(f"flowctl run: stopping ({reason}): finishing the transactions in flight")
            signals.stop.set()

    all_collections = {b.source for m in catalog.materializations.values() for b in m.bindings} | collections

    with lifetime.graceful_stop(stop):
        sink = JournalSink(capture, plane, stats, progress, signals.appended)
        capture_task = asyncio.create_task(
            run_capture(catalog, capture, plane, sink, on_log, options.until_caught_up, options.network)
        )
        capture_task.add_done_callback(lambda _: signals.capture_done.set())
        runners = [
            MaterializationRunner(
                catalog, m, plane, signals, stats, progress, on_log, options.until_caught_up,
                options.response_timeout, options.network, on_commit=lambda: prune(plane, catalog, all_collections),
            )
            for m in materializations
        ]  # fmt: skip
        mat_tasks = [asyncio.create_task(r.run()) for r in runners]
        timer = loop.call_later(options.timeout, stop, "--timeout") if options.timeout else None
        try:
            pending: set[asyncio.Task[None]] = {capture_task, *mat_tasks}
            while pending:
                stopper = asyncio.create_task(signals.stop.wait())
                done, _ = await asyncio.wait([*pending, stopper], return_when=asyncio.FIRST_COMPLETED)
                stopper.cancel()
                for task in done - {stopper}:
                    pending.discard(task)
                    task.result()  # a failed task fails the run
                if signals.stop.is_set() and capture_task in pending:
                    capture_task.cancel()  # uncommitted documents are captured again next time
                    with contextlib.suppress(asyncio.CancelledError):
                        await capture_task
                    pending.discard(capture_task)
                if signals.stop.is_set():
                    # materializations end their current transaction, then their session
                    for task in list(pending):
                        await task
                        pending.discard(task)
            return stats
        finally:
            if timer is not None:
                timer.cancel()
            for task in [capture_task, *mat_tasks]:
                if not task.done():
                    task.cancel()
                    with contextlib.suppress(BaseException):
                        await task
            plane.close()
