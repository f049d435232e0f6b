"""One capture session: a connector process from Open until it exits or has run its
transactions. Reads checkpoint sequences (flow-protocol §2.3), folds the ready ones into
transactions, combines, validates, prints and acknowledges them (§7.6)."""

from __future__ import annotations

import asyncio
import copy
import gc
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from .build import UUID_PLACEHOLDER
from .catalog import Collection
from .combine import Combiner
from .connector import ConnectorProcess, decode_message
from .errors import ConnectorError, DocumentKeyError, ProtocolError
from .keys import key_defaults
from .merge_patch import apply_merge_patch, compose_merge_patches
from .output import Output, document_line, state_line
from .preview_watch import PreviewWatch
from .reduce import Reducer
from .schema import Validator
from .state_file import StateFile

# The runtime stops folding sequences into a transaction at ~32 MiB of combiner memory, which is
# about the documents' JSON size. Parsed into Python objects the same documents take 5-8 times
# that, so flowctl folds up to 8 MiB of document JSON per transaction.
FOLD_LIMIT_BYTES = 8 << 20
_WRITE_CHUNK_DOCS = 8192
GC_INTERVAL_SECONDS = 30.0
ACK_TIMEOUT_SECONDS = 10.0  # the runtime's limit for delivering an acknowledgement
_EXPECT_STREAM = "Captured, SourcedSchema, or Checkpoint"


@dataclass
class PreviewOptions:
    sessions: list[int] = field(default_factory=lambda: [-1])
    delay: float = 0.0
    timeout: float | None = None
    initial_state: dict[str, Any] = field(default_factory=dict)
    output_state: bool = False
    output_apply: bool = False
    fold_limit_bytes: int = FOLD_LIMIT_BYTES
    network: str | None = None
    until_caught_up: bool = False
    caught_up_idle: float = 5.0
    state_file: StateFile | None = None  # --output-state FILE


@dataclass
class Compiled:
    """Per-binding collection machinery, compiled once per run."""

    name: str
    key: list[str]
    reducer: Reducer
    validator: Validator
    key_defaults: list[Any]

    @classmethod
    def of(cls, collection: Collection) -> Compiled:
        """A collection's key, reducer and validator (a bad schema is an error naming its file)."""
        c = collection
        schema_at = f"{c.file}#{c.location}"
        return cls(
            c.name,
            c.key,
            Reducer(c.write_schema),
            Validator(c.write_schema, schema_at),
            key_defaults(c.write_schema, c.key),
        )

    def combiner(self) -> Combiner:
        return Combiner(self.name, self.key, self.reducer, self.validator, self.key_defaults)


def _open_locations(schema: Any, at: str = "") -> list[str]:
    """Locations of object schemas with `properties` that are not closed."""
    found: list[str] = []
    if isinstance(schema, dict):
        if isinstance(schema.get("properties"), dict) and schema.get("additionalProperties") is not False:
            found.append(at or "/")
        for k, v in schema.items():
            if k in ("properties", "patternProperties", "$defs", "definitions") and isinstance(v, dict):
                for name, sub in v.items():
                    found.extend(_open_locations(sub, f"{at}/{k}/{name}"))
            elif isinstance(v, dict | list) and k not in ("const", "enum", "default", "examples"):
                found.extend(_open_locations(v, f"{at}/{k}"))
    elif isinstance(schema, list):
        for i, v in enumerate(schema):
            found.extend(_open_locations(v, f"{at}/{i}"))
    return found


class Sink(Protocol):
    """Where a committed capture transaction goes: preview prints it, the local pipeline
    appends it to the data plane's journals with the capture's state."""

    async def commit(
        self, docs: list[tuple[str, list[dict[str, Any]]]], state: dict[str, Any], patch: Any, merge: bool
    ) -> None: ...


class PrintSink:
    """preview's output: the documents (by binding, then key), then the state patch."""

    def __init__(self, output: Output, output_state: bool, state_file: StateFile | None = None) -> None:
        self.output = output
        self.output_state = output_state
        self.state_file = state_file

    async def commit(
        self, docs: list[tuple[str, list[dict[str, Any]]]], state: dict[str, Any], patch: Any, merge: bool
    ) -> None:
        for name, binding_docs in docs:
            for start in range(0, len(binding_docs), _WRITE_CHUNK_DOCS):
                await self.output.write(
                    [document_line(name, doc) for doc in binding_docs[start : start + _WRITE_CHUNK_DOCS]]
                )
            binding_docs.clear()
        if self.output_state:
            await self.output.write([state_line(patch if patch is not None else {}, merge)])
        if self.state_file is not None:
            # After the transaction's lines: a run killed in between redoes the transaction
            # from the previous state (its documents come twice), never skips it.
            self.state_file.write(state)


class Session:
    """One connector process from Open until it exits or the session's transactions are done."""

    def __init__(
        self,
        proc: ConnectorProcess,
        compiled: list[Compiled],
        options: PreviewOptions,
        output: Output | None,
        sink: Sink | None = None,
        watch: PreviewWatch | None = None,
    ) -> None:
        self.proc = proc
        self.watch = watch
        self.end_reason = ""
        self.compiled = compiled
        self.options = options
        if sink is None:
            assert output is not None, "a session prints to an output unless it has a sink"
            sink = PrintSink(output, options.output_state, options.state_file)
        self.sink: Sink = sink
        self.pending: list[list[dict[str, Any]]] = [[] for _ in compiled]
        self.pending_any = False
        self.pending_bytes = 0
        self.ready = [c.combiner() for c in compiled]
        self.ready_checkpoints = 0
        self.ready_states: list[tuple[Any, bool]] = []
        self.ready_bytes = 0
        self.ready_event = asyncio.Event()
        self.drained = asyncio.Event()
        self.drained.set()
        self.explicit_acks = False
        self._last_gc = time.monotonic()
        self.seen = [0 for _ in compiled]  # documents per binding read so far (at checkpoints)
        self.checkpoints_read = 0

    # --- reading -----------------------------------------------------------------------------
    async def read(self) -> None:
        proc = self.proc
        try:
            msg = await proc.read_message("Opened")
        except ProtocolError:
            await self._prefer_exit_failure()
            raise
        if msg is None:
            await self._prefer_exit_failure()
            raise ProtocolError("unexpected connector EOF (expected Opened)", proc.last_error)
        opened = msg.get("opened")
        if not isinstance(opened, dict):
            raise ProtocolError(
                f"connector protocol error (expected Opened): {orjson.dumps(msg).decode()}", proc.last_error
            )
        self.explicit_acks = bool(opened.get("explicitAcknowledgements"))
        if self.watch is not None:
            self.watch.connector_opened()
        while True:
            if self.ready_bytes >= self.options.fold_limit_bytes:
                self.drained.clear()
                await self.drained.wait()
            try:
                lines = await proc.read_lines()
            except ProtocolError:
                await self._prefer_exit_failure()
                raise
            if lines is None:
                break
            self._process(lines)  # errors get the connector's last error line in run()
        code = await proc.wait()
        if code != 0:
            raise proc.failure(code)
        if self.pending_any:
            raise ConnectorError(
                "unexpected capture connector EOF while within a checkpoint", proc.last_error
            )

    async def _prefer_exit_failure(self) -> None:
        """When the output ended badly because the connector failed, report the failure."""
        try:
            code = await asyncio.wait_for(self.proc.wait(), 5)
        except TimeoutError:
            return
        if code != 0:
            raise self.proc.failure(code)

    def _process(self, lines: list[bytes]) -> None:
        """Hot loop: parse lines; `captured` documents go to their binding's pending list."""
        loads = orjson.loads
        pending = self.pending
        n = len(pending)
        nbytes = 0
        for line in lines:
            try:
                msg = loads(line)
            except orjson.JSONDecodeError:
                if not line.strip():
                    continue
                msg = decode_message(line, _EXPECT_STREAM)
            try:
                captured = msg["captured"]
                binding = captured.get("binding", 0)
                doc = captured["doc"]
            except (KeyError, TypeError, AttributeError):
                self.pending_bytes += nbytes
                nbytes = 0
                self._other(msg, line)
                continue
            if type(doc) is not dict or type(binding) is not int or not 0 <= binding < n:
                self._bad_captured(msg, n)
            meta = doc.get("_meta")
            if meta is None:
                doc["_meta"] = {"uuid": UUID_PLACEHOLDER}
            elif type(meta) is dict:
                meta["uuid"] = UUID_PLACEHOLDER
            pending[binding].append(doc)
            self.pending_any = True
            nbytes += len(line)
        self.pending_bytes += nbytes

    def _position(self, binding: int, index: int, count: int) -> str:
        """Where a document is in the connector's output, for errors about it."""
        return (
            f"document #{self.seen[binding] + index + 1} of binding {binding} in this session "
            f"(document {index + 1} of {count} before checkpoint {self.checkpoints_read + 1})"
        )

    def _bad_captured(self, msg: dict[str, Any], n: int) -> None:
        captured = msg["captured"]
        binding = captured.get("binding", 0)
        if type(binding) is not int or not 0 <= binding < n:
            raise ProtocolError(
                f"connector protocol error: captured binding {binding!r} is out of range (the task has {n} bindings)",
                self.proc.last_error,
            )
        raise ProtocolError(
            f"connector protocol error (expected a JSON object as Captured.doc): {_clip(msg)}",
            self.proc.last_error,
        )

    def _other(self, msg: Any, line: bytes) -> None:
        if not isinstance(msg, dict):
            raise ProtocolError(
                f"connector protocol error (expected {_EXPECT_STREAM}): {_clip(msg)}", self.proc.last_error
            )
        if "checkpoint" in msg:
            cp = msg["checkpoint"]
            state = cp.get("state") if isinstance(cp, dict) else None
            if not isinstance(state, dict):
                raise ProtocolError(
                    f"connector protocol error (expected Checkpoint with a state): {_clip(msg)}",
                    self.proc.last_error,
                )
            updated = state.get("updated", {})
            merge = bool(state.get("mergePatch", False))
            for b, docs in enumerate(self.pending):
                if docs:
                    try:
                        self.ready[b].add_all(docs)
                    except DocumentKeyError as err:
                        raise err.at(self._position(b, err.index or 0, len(docs))) from None
                    self.seen[b] += len(docs)
                    self.pending[b] = []
            self.checkpoints_read += 1
            self.ready_checkpoints += 1
            self.ready_states.append((updated, merge))
            self.ready_bytes += self.pending_bytes
            self.pending_bytes = 0
            self.pending_any = False
            self.ready_event.set()
            return
        if "sourcedSchema" in msg:
            sourced = msg["sourcedSchema"]
            binding = sourced.get("binding", 0) if isinstance(sourced, dict) else None
            if type(binding) is not int or not 0 <= binding < len(self.pending):
                raise ProtocolError(
                    f"connector protocol error: sourcedSchema binding {binding!r} is out of range",
                    self.proc.last_error,
                )
            schema = sourced.get("documentSchema", sourced.get("schema_json"))
            open_at = _open_locations(schema)
            if not isinstance(schema, dict) or open_at:
                detail = (
                    "it is not an object"
                    if not isinstance(schema, dict)
                    else f"objects at {', '.join(open_at[:5])} are not closed (additionalProperties: false)"
                )
                raise ProtocolError(
                    f"connector implementation error: binding {binding} SourcedSchema has errors: {detail}",
                    self.proc.last_error,
                )
            self.pending_any = True
            return
        raise ProtocolError(
            f"connector protocol error (expected {_EXPECT_STREAM}): {_clip(msg)}", self.proc.last_error
        )

    # --- committing --------------------------------------------------------------------------
    async def run(self, target: int, state: dict[str, Any]) -> dict[str, Any]:
        """Drive the session until `target` transactions (negative: unlimited), connector exit,
        timeout, or (with a watch) a stop request or caught up. Returns the reduced state."""
        reader = asyncio.create_task(self.read())
        txns = 0
        try:
            while target < 0 or txns < target:
                if self.options.delay > 0:
                    await self._sleep(self.options.delay, reader)
                if not await self._poll(reader):
                    break
                state = await self._commit(state)
                txns += 1
                if self.watch is not None and self.watch.done():
                    self.end_reason = "stopped" if self.watch.stopping.is_set() else "caught up"
                    break
            else:
                self.end_reason = f"it committed its {target} transactions (--sessions)"
            if reader.done() and not reader.cancelled() and reader.exception():
                raise reader.exception()  # type: ignore[misc]
            return state
        except ConnectorError as err:
            # Logs the connector wrote before failing may still be in its stderr pipe: read them all.
            await self.proc.stop()
            err.last_log = self.proc.last_error or err.last_log
            raise
        finally:
            if not reader.done():
                reader.cancel()
            await self.proc.stop()
            if not reader.cancelled() and reader.done():
                reader.exception()  # retrieved: it was raised above or is moot after a stop

    async def _sleep(self, seconds: float, reader: asyncio.Task[None]) -> None:
        """Sleep before a poll; a finished reader can add nothing more, so stop waiting then (and
        on a stop request)."""
        waits: list[asyncio.Future[Any]] = [reader]
        stopper = None
        if self.watch is not None:
            stopper = asyncio.ensure_future(self.watch.stopping.wait())
            waits.append(stopper)
        await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        if stopper is not None and not stopper.done():
            stopper.cancel()

    async def _poll(self, reader: asyncio.Task[None]) -> bool:
        """Wait for at least one ready checkpoint. False when the session is over (the reason in
        `end_reason`): the connector exited with nothing more to commit, nothing was ready within
        --timeout, or the watch says stop (a signal) or caught up."""
        deadline = None if self.options.timeout is None else time.monotonic() + self.options.timeout
        watch = self.watch
        if watch is not None:
            watch.begin_wait()
        while self.ready_checkpoints == 0:
            if reader.done():
                if reader.exception():
                    raise reader.exception()  # type: ignore[misc]
                self.end_reason = "the connector exited"
                return False
            if watch is not None and watch.done():
                self.end_reason = "stopped" if watch.stopping.is_set() else "caught up"
                return False
            waiter = asyncio.create_task(self.ready_event.wait())
            waits: list[asyncio.Future[Any]] = [reader, waiter]
            wake = deadline
            if watch is not None:
                waits.append(asyncio.ensure_future(watch.stopping.wait()))
                wake = watch.wake_at() if wake is None else min(wake, watch.wake_at())
            remaining = None if wake is None else max(0.0, wake - time.monotonic())
            done, _ = await asyncio.wait(waits, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
            for w in waits[1:]:
                if not w.done():
                    w.cancel()
            if deadline is not None and not done and time.monotonic() >= deadline:
                self.end_reason = "--timeout passed without a transaction"
                return False  # --timeout without data
            if watch is not None and not done:
                watch.idle(deadline)
        if reader.done() and not reader.cancelled() and reader.exception():
            raise reader.exception()  # type: ignore[misc]
        return True

    async def _commit(self, state: dict[str, Any]) -> dict[str, Any]:
        combiners, checkpoints, states = self.ready, self.ready_checkpoints, self.ready_states
        self.ready = [c.combiner() for c in self.compiled]
        self.ready_checkpoints, self.ready_states, self.ready_bytes = 0, [], 0
        self.ready_event.clear()
        self.drained.set()

        # Validate every combined document before committing any: a failing transaction commits nothing.
        drained = [
            (compiled.name, list(combiner.drain()))
            for compiled, combiner in zip(self.compiled, combiners, strict=True)
        ]
        del combiners
        state, patch, merge = fold_states(state, states)
        counts = [len(docs) for _, docs in drained]  # the sink may clear the lists
        await self.sink.commit(drained, state, patch, merge)
        if self.watch is not None:
            self.watch.transaction(counts, checkpoints, state, patch)
        if self.explicit_acks:
            try:
                await asyncio.wait_for(
                    self.proc.send({"acknowledge": {"checkpoints": checkpoints}}), ACK_TIMEOUT_SECONDS
                )
            except TimeoutError:
                raise ConnectorError(
                    "connector requested acknowledgements but is not processing its input",
                    self.proc.last_error,
                ) from None
        self._collect_cycles()
        return state

    def _collect_cycles(self) -> None:
        """preview runs with the cyclic GC off (documents are acyclic); the event loop's own
        small cycles are collected now and then, between transactions, when few objects live."""
        now = time.monotonic()
        if now - self._last_gc >= GC_INTERVAL_SECONDS:
            self._last_gc = now
            gc.collect()


def fold_states(state: dict[str, Any], updates: list[tuple[Any, bool]]) -> tuple[dict[str, Any], Any, bool]:
    """Apply a transaction's checkpoint states in order (flow-protocol §2.4: an RFC 7396 merge
    patch, or a replacement). Returns the new state and one update equivalent to all of them:
    (state, patch, merge_patch); the patch is None when there were no updates."""
    patch: Any = None
    merge = True
    for updated, is_merge in updates:
        if is_merge:
            state = apply_merge_patch(state, updated)
            if patch is None:
                patch = copy.deepcopy(updated)
            elif merge:
                patch = compose_merge_patches(patch, updated)
            else:
                patch = apply_merge_patch(patch, updated)
        else:
            state = copy.deepcopy(updated) if isinstance(updated, dict) else {}
            patch, merge = copy.deepcopy(updated), False
    return state, patch, merge


def _clip(msg: Any, limit: int = 1000) -> str:
    text = orjson.dumps(msg).decode()
    return text if len(text) <= limit else text[:limit] + "…"
