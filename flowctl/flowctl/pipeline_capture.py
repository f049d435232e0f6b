"""The capture side of the local pipeline: capture sessions whose committed transactions go to
the data plane's journals instead of stdout.

A transaction's combined documents get real v1 UUIDs (a producer derived from the capture's
name, a clock that ticks per document) and are appended to their collections' journals in the
same SQLite transaction that records the capture's reduced state; only then is the connector
acknowledged. A restart resumes from that state: documents read but not committed are simply
captured again, and nothing committed is captured twice."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable
from typing import Any

from . import json_pointer
from .build import build_capture
from .catalog import Capture, Catalog
from .connector import launch_for, unary
from .dataplane import DataPlane
from .gazette_uuid import build as build_uuid
from .gazette_uuid import clock_from_unix
from .logs import OpsLog
from .pipeline_stats import Progress, RunStats
from .preview import compile_bindings, run_session
from .session import PreviewOptions

_TICK = 10 << 4  # one microsecond of the UUID clock


def producer_of(task: str) -> bytes:
    """A stable 6-byte producer id for a task, with the multicast bit set (not a MAC address)."""
    digest = bytearray(hashlib.sha256(task.encode()).digest()[:6])
    digest[0] |= 0x01
    return bytes(digest)


class JournalSink:
    """Commits capture transactions to the data plane, then wakes the materializations."""

    def __init__(
        self,
        capture: Capture,
        plane: DataPlane,
        stats: RunStats,
        progress: Progress,
        appended: Callable[[], None],
    ) -> None:
        self.capture = capture
        self.plane = plane
        self.stats = stats
        self.progress = progress
        self.appended = appended
        self.producer = producer_of(capture.name)
        self.uuid_tokens = json_pointer.split("/_meta/uuid")
        self.clock = 0
        self.txns = 0

    async def commit(
        self, docs: list[tuple[str, list[dict[str, Any]]]], state: dict[str, Any], patch: Any, merge: bool
    ) -> None:
        now = time.time()
        self.clock = max(self.clock + _TICK, clock_from_unix(int(now), int((now % 1) * 1e9)))
        for _, batch in docs:
            for doc in batch:
                json_pointer.create(doc, self.uuid_tokens, build_uuid(self.producer, self.clock))
                self.clock += _TICK
        self.plane.commit_capture(self.capture.name, docs, state)
        self.txns += 1
        counts: dict[str, int] = {}
        for name, batch in docs:
            counts[name] = counts.get(name, 0) + len(batch)
            self.stats.captured[name] = self.stats.captured.get(name, 0) + len(batch)
        self.progress.capture_txn(self.capture.name, self.txns, counts)
        self.appended()


async def run_capture(
    catalog: Catalog,
    capture: Capture,
    plane: DataPlane,
    sink: JournalSink,
    on_log: Callable[[OpsLog], None],
    once: bool,
    network: str | None = None,
) -> None:
    """Capture sessions, one after the other (the next starts `interval` after the previous
    one's Open, as Flow does); with `once`, a single session."""
    launch = await launch_for(capture, network)
    built = await build_capture(catalog, capture, launch, on_log)
    while True:
        started = time.monotonic()
        _, applied = await unary(
            launch, {"apply": {"capture": built.capture_spec, "version": built.version}}, "applied", on_log
        )
        body = applied.get("applied")
        description = body.get("actionDescription") if isinstance(body, dict) else None
        if description:
            sink.progress.applied(capture.name, str(description))
        state = plane.state(capture.name) or {}
        await run_session(
            launch, built, compile_bindings(built), PreviewOptions(), None, state, -1, on_log, sink
        )
        sink.stats.capture_sessions += 1
        if once:
            return
        await asyncio.sleep(max(0.0, capture.interval_seconds - (time.monotonic() - started)))
