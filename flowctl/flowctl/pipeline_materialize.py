"""The materialization side of the local pipeline: a session that reads its bindings' journals
after its checkpoint and materializes them, transaction by transaction.

Each binding reads its collection's journal from its own position (the checkpoint entry
`<journal>;<read suffix>`, so a backfilled binding, whose suffix changes, starts over). A
transaction takes what is there (bounded in documents and bytes), combines it per binding, runs
load/store/startCommit, and only after `startedCommit` records the checkpoint and connector state
in the data plane (flowctl's recovery log). On restart the destination's
`opened.runtimeCheckpoint` overrides the recorded one. Journal entries every binding has
materialized are then pruned. The build carries the previously applied spec as
`lastMaterialization`, and the applied spec is kept for the next run."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from .build import FULL_RANGE
from .build_materialization import BuiltMaterialization, build_materialization
from .catalog import Catalog
from .connector import ConnectorProcess, launch_for, spec_handshake, unary
from .dataplane import DataPlane, source_key
from .errors import ConnectorError
from .extract import BindingPlan, plan_binding
from .logs import OpsLog
from .materializations import Materialization
from .materialize_preview import read_through
from .materialize_session import MaterializeSession
from .pipeline_stats import Progress, RunStats
from .selectors import DocFilter, document_filter
from .session import fold_states

TXN_MAX_DOCS = 20_000  # per binding and transaction
TXN_MAX_BYTES = 8 << 20  # of document JSON per transaction (memory follows the transaction)
IDLE_POLL_SECONDS = 0.5


@dataclass
class Signals:
    """Shared between the pipeline's tasks: stop requested, capture ended, documents appended."""

    stop: asyncio.Event = field(default_factory=asyncio.Event)
    capture_done: asyncio.Event = field(default_factory=asyncio.Event)
    _appended: asyncio.Event = field(default_factory=asyncio.Event)

    def appended(self) -> None:
        """Wake every reader waiting for documents (each wait uses the event current then)."""
        event, self._appended = self._appended, asyncio.Event()
        event.set()

    async def wait_for_documents(self) -> None:
        """Until documents are appended (or a short while: a wake-up may have been missed)."""
        try:
            await asyncio.wait_for(self._appended.wait(), IDLE_POLL_SECONDS)
        except TimeoutError:
            pass


def _resource(plan_index: int, built: BuiltMaterialization) -> str:
    return "/".join(built.bindings[plan_index].resource_path)


class MaterializationRunner:
    def __init__(
        self,
        catalog: Catalog,
        materialization: Materialization,
        plane: DataPlane,
        signals: Signals,
        stats: RunStats,
        progress: Progress,
        on_log: Callable[[OpsLog], None],
        until_caught_up: bool,
        response_timeout: float,
        network: str | None = None,
        on_commit: Callable[[], None] | None = None,
    ) -> None:
        self.catalog, self.m, self.plane, self.signals = catalog, materialization, plane, signals
        self.stats, self.progress, self.on_log = stats, progress, on_log
        self.until_caught_up, self.response_timeout, self.network = until_caught_up, response_timeout, network
        self.on_commit = on_commit or (lambda: None)
        self.txns = 0
        self.filters: list[DocFilter | None] = []

    async def run(self) -> None:
        m, plane = self.m, self.plane
        launch = await launch_for(m, self.network)
        last, last_version = plane.last_spec(m.name)
        built = await build_materialization(self.catalog, m, launch, self.on_log, last, last_version)
        state = plane.state(m.name) or {}
        apply: dict[str, Any] = {"materialization": built.spec, "version": built.version, "state": state}
        if last is not None:
            apply.update(lastMaterialization=last, lastVersion=last_version or "")
        _, applied = await unary(launch, {"apply": apply}, "applied", self.on_log)
        body = applied.get("applied")
        if isinstance(body, dict) and body.get("actionDescription"):
            self.progress.applied(m.name, str(body["actionDescription"]))
        plane.put_spec(m.name, built.spec, built.version)
        plans = [plan_binding(b) for b in built.bindings]
        self.filters = [
            document_filter(m, b.model, b.collection, b.spec["collection"].get("uuidPtr", "/_meta/uuid"))
            for b in built.bindings
        ]
        self.stats.stored.setdefault(m.name, {_resource(p.index, built): 0 for p in plans})
        self.stats.materialize_txns.setdefault(m.name, 0)

        proc = await ConnectorProcess.start(launch, self.on_log)
        try:
            await spec_handshake(proc, launch)
        except BaseException:
            await proc.stop()
            raise
        await proc.send(
            {
                "open": {
                    "materialization": built.spec,
                    "version": built.version,
                    "range": FULL_RANGE,
                    "state": state,
                }
            }
        )
        session = MaterializeSession(proc, plans, self.response_timeout)
        try:
            opened = await session.opened()
            checkpoint = (
                opened["runtimeCheckpoint"]
                if "runtimeCheckpoint" in opened
                else plane.checkpoint(m.name) or {}
            )
            keys = [
                source_key(p.collection, b.spec["journalReadSuffix"])
                for p, b in zip(plans, built.bindings, strict=True)
            ]
            cursors = [read_through(checkpoint, key) for key in keys]
            self._check_history(plans, cursors)
            state = await self._transactions(session, built, plans, keys, cursors, state)
            state, _, _ = fold_states(state, await session.close())
            plane.commit_materialization(m.name, self._checkpoint(keys, cursors), state)
        except ConnectorError as err:
            await session.stop()
            err.last_log = proc.last_error or err.last_log
            raise
        finally:
            await session.stop()

    def _check_history(self, plans: list[BindingPlan], cursors: list[int]) -> None:
        for plan, cursor in zip(plans, cursors, strict=True):
            first = self.plane.first_offset(plan.collection)
            if first is not None and first > cursor + 1:
                self.progress.note(
                    f"{self.m.name}: warning: binding {plan.index} ({plan.collection}) starts at journal offset "
                    f"{cursor}, but documents up to {first - 1} were already pruned: they are not materialized"
                )

    @staticmethod
    def _checkpoint(keys: list[str], cursors: list[int]) -> dict[str, Any]:
        return {
            "sources": {key: {"readThrough": str(c)} for key, c in sorted(zip(keys, cursors, strict=True))}
        }

    def _read(
        self, plans: list[BindingPlan], cursors: list[int]
    ) -> tuple[list[list[dict[str, Any]]], list[int], int]:
        """The next transaction's documents per binding (combined), the new cursors, and the
        number of journal documents read."""
        combiners = [p.combiner() for p in plans]
        new_cursors = list(cursors)
        read, size = 0, 0
        for i, plan in enumerate(plans):
            if size >= TXN_MAX_BYTES:
                break
            accept = self.filters[i]
            for offset, raw in self.plane.read(plan.collection, cursors[i], TXN_MAX_DOCS):
                doc = orjson.loads(raw)
                if accept is None or accept(doc):
                    combiners[i].add(doc)
                new_cursors[i] = offset
                read += 1
                size += len(raw)
                if size >= TXN_MAX_BYTES:
                    break
        return [list(c.drain()) for c in combiners], new_cursors, read

    async def _transactions(
        self,
        session: MaterializeSession,
        built: BuiltMaterialization,
        plans: list[BindingPlan],
        keys: list[str],
        cursors: list[int],
        state: dict[str, Any],
    ) -> dict[str, Any]:
        while not self.signals.stop.is_set():
            capture_was_done = self.signals.capture_done.is_set()
            docs, new_cursors, read = self._read(plans, cursors)
            if not read:
                if capture_was_done and self.until_caught_up:
                    return state  # caught up with a capture that has ended
                await self.signals.wait_for_documents()
                continue
            checkpoint = self._checkpoint(keys, new_cursors)
            result = await session.transaction(docs, checkpoint)
            state, _, _ = fold_states(state, result.states)
            self.plane.commit_materialization(self.m.name, checkpoint, state)
            self.on_commit()  # e.g. prune what every reader has materialized
            cursors[:] = new_cursors
            self.txns += 1
            stored = {_resource(p.index, built): n for p, n in zip(plans, result.stored, strict=True)}
            for name, n in stored.items():
                self.stats.stored[self.m.name][name] += n
            self.stats.materialize_txns[self.m.name] = self.txns
            self.progress.materialize_txn(self.m.name, self.txns, read, stored, result.loaded)
        return state
