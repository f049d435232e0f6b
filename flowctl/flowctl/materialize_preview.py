"""`flowctl preview --fixture` for a materialization (flow-protocol §5.1-5.3, §7 item 7): build,
then sessions of Apply + Open that materialize the fixture's transactions.

Each fixture document gets a v1 UUID at its collection's `uuidPtr` (producer
07:13:53:03:03:11, published 3600·txn + offset seconds after the epoch), is combined with the
transaction's other documents of its binding, and is then loaded, reduced and stored. Each
transaction commits with the runtime checkpoint `{"sources":{"fixture":{"readThrough":"<txn+1>"}}}`;
a session resumes after the checkpoint the connector returns in `opened.runtimeCheckpoint` (when
it returns one, even `{}`), else after flowctl's own, skipping the transactions at or below it."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from . import json_pointer
from .build import FULL_RANGE
from .build_materialization import BuiltMaterialization, build_materialization
from .catalog import Catalog
from .connector import ConnectorProcess, Launch, launch_for, spec_handshake
from .errors import ConnectorError, UsageError
from .extract import BindingPlan, plan_binding
from .fixture import Transaction, read_fixture
from .gazette_uuid import fixture_uuid
from .logs import OpsLog
from .materializations import Materialization
from .materialize_session import MaterializeSession
from .output import Output, state_line
from .preview import apply_session
from .session import fold_states
from .state_file import StateFile

# The runtime's default maximum transaction duration for materializations: no response of a
# healthy connector takes longer, so a silent one is reported after it.
RESPONSE_TIMEOUT_SECONDS = 300.0


@dataclass
class MaterializePreviewOptions:
    fixture: str
    sessions: list[int] = field(default_factory=lambda: [-1])
    timeout: float | None = None
    initial_state: dict[str, Any] = field(default_factory=dict)
    output_state: bool = False
    state_file: StateFile | None = None  # --output-state FILE
    output_apply: bool = False
    network: str | None = None


def fixture_checkpoint(read_through: int) -> dict[str, Any]:
    return {"sources": {"fixture": {"readThrough": str(read_through)}}}


def read_through(checkpoint: Any, source: str = "fixture") -> int:
    """`readThrough` of `source` in a runtime checkpoint (0 when absent)."""
    sources = checkpoint.get("sources") if isinstance(checkpoint, dict) else None
    entry = sources.get(source) if isinstance(sources, dict) else None
    value = entry.get("readThrough", 0) if isinstance(entry, dict) else 0
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def combine_transaction(
    plans: list[BindingPlan], by_collection: dict[str, list[int]], txn_index: int, txn: Transaction
) -> list[list[dict[str, Any]]]:
    """The transaction's documents, stamped with their fixture UUIDs and combined per binding
    (documents of collections no binding reads are skipped)."""
    combiners = [p.combiner() for p in plans]
    for offset, (collection, doc) in enumerate(txn):
        targets = by_collection.get(collection)
        if not targets:
            continue
        uuid = fixture_uuid(txn_index, offset)
        for b in targets:
            stamped = copy.deepcopy(doc) if len(targets) > 1 else doc
            json_pointer.create(stamped, plans[b].uuid_tokens, uuid)
            combiners[b].add(stamped)
    return [list(c.drain()) for c in combiners]


class _Fixture:
    """The fixture's transactions from a given index on; re-read from the file per session
    (a resumed session may start before where the previous one stopped)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._stdin: Iterator[Transaction] | None = None
        self._stdin_next = 0

    def from_index(self, start: int) -> Iterator[tuple[int, Transaction]]:
        if self.path != "-":
            for i, txn in enumerate(read_fixture(self.path)):
                if i >= start:
                    yield i, txn
            return
        if self._stdin is None:
            self._stdin = read_fixture("-")
        if start < self._stdin_next:
            raise UsageError(
                "a fixture read from stdin cannot be re-read to resume before its current position"
            )
        for txn in self._stdin:
            i, self._stdin_next = self._stdin_next, self._stdin_next + 1
            if i >= start:
                yield i, txn


async def run_materialize_preview(
    catalog: Catalog,
    materialization: Materialization,
    options: MaterializePreviewOptions,
    on_log: Callable[[OpsLog], None],
    output: Output | None = None,
) -> dict[str, Any]:
    """Run the preview; returns the final connector state."""
    out = output or Output()
    try:
        launch = await launch_for(materialization, options.network)
        built = await build_materialization(catalog, materialization, launch, on_log)
        plans = [plan_binding(b) for b in built.bindings]
        by_collection: dict[str, list[int]] = {}
        for plan in plans:
            by_collection.setdefault(plan.collection, []).append(plan.index)
        state = copy.deepcopy(options.initial_state)
        if options.state_file is not None:
            options.state_file.write(state)
        checkpoint = 0
        fixture = _Fixture(options.fixture)
        for target in options.sessions:
            apply = {"apply": {"materialization": built.spec, "version": built.version}}
            await apply_session(launch, apply, on_log, out if options.output_apply else None)
            session = _Session(launch, built, plans, by_collection, options, out, on_log)
            state, checkpoint = await session.run(state, checkpoint, target, fixture)
        return state
    finally:
        await out.close()


class _Session:
    def __init__(
        self,
        launch: Launch,
        built: BuiltMaterialization,
        plans: list[BindingPlan],
        by_collection: dict[str, list[int]],
        options: MaterializePreviewOptions,
        out: Output,
        on_log: Callable[[OpsLog], None],
    ) -> None:
        self.launch, self.built, self.plans, self.by_collection = launch, built, plans, by_collection
        self.options, self.out, self.on_log = options, out, on_log

    async def run(
        self, state: dict[str, Any], checkpoint: int, target: int, fixture: _Fixture
    ) -> tuple[dict[str, Any], int]:
        proc = await ConnectorProcess.start(self.launch, self.on_log)
        try:
            await spec_handshake(proc, self.launch)
        except BaseException:
            await proc.stop()
            raise
        open_ = {"materialization": self.built.spec, "version": self.built.version, "range": FULL_RANGE}
        await proc.send({"open": {**open_, "state": state}})
        # From here on one reader task takes every response.
        session = MaterializeSession(proc, self.plans, self.options.timeout or RESPONSE_TIMEOUT_SECONDS)
        try:
            opened = await session.opened()
            if "runtimeCheckpoint" in opened:  # the destination's checkpoint is authoritative
                checkpoint = read_through(opened["runtimeCheckpoint"])
            done = 0
            transactions = fixture.from_index(checkpoint)
            while target < 0 or done < target:
                # read in a thread: a fixture streamed through a FIFO or stdin may take its time
                item = await asyncio.to_thread(next, transactions, None)
                if item is None:
                    break
                index, txn = item
                docs = combine_transaction(self.plans, self.by_collection, index, txn)
                result = await session.transaction(docs, fixture_checkpoint(index + 1))
                checkpoint, done = index + 1, done + 1
                state, patch, merge = fold_states(state, result.states)
                if self.options.output_state:
                    line = state_line(patch, merge) if patch is not None else b'["connectorState",{}]\n'
                    await self.out.write([line])
                if self.options.state_file is not None:
                    self.options.state_file.write(state)
            state, _, _ = fold_states(state, await session.close())
            return state, checkpoint
        except ConnectorError as err:
            await session.stop()  # then every log line the connector wrote has been read
            err.last_log = proc.last_error or err.last_log
            raise
        finally:
            await session.stop()
