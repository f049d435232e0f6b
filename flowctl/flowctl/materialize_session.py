"""The runtime side of one materialization session (flow-protocol §3.4, §7 item 7): after Open,
each transaction is Acknowledge → Load* → (Acknowledged) → Flush → Loaded* → Flushed → Store* →
StartCommit → StartedCommit, and the session ends with a last Acknowledge and a closed stdin.

A reader task queues every response as it arrives, so the connector never blocks on a full
pipe; the driver takes them in order and checks each against what the protocol allows at that
point. Every wait is bounded: a connector that does not answer within `timeout` fails the run
with a message that names what was awaited."""

from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass, field
from typing import Any

import orjson

from .connector import ConnectorProcess
from .errors import ConnectorTimeoutError, DocumentValidationError, ProtocolError
from .extract import BindingPlan
from .json_order import untyped

_EOF = object()
_STORE_CHUNK = 2048  # store messages written (and the output checked) per batch


@dataclass
class TxnResult:
    """What one committed transaction did: its connector states in arrival order (as
    (updated, mergePatch) pairs) and the number of stores per binding."""

    states: list[tuple[Any, bool]] = field(default_factory=list)
    stored: list[int] = field(default_factory=list)
    loaded: int = 0


def _clip(msg: Any, limit: int = 1000) -> str:
    text = orjson.dumps(msg).decode() if not isinstance(msg, bytes) else msg.decode(errors="replace")
    return text if len(text) <= limit else text[:limit] + "…"


def _state(body: Any, out: list[tuple[Any, bool]]) -> None:
    """Collect a response's connector state update, if it carries one."""
    state = body.get("state") if isinstance(body, dict) else None
    if isinstance(state, dict) and "updated" in state:
        out.append((state["updated"], bool(state.get("mergePatch", False))))


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


class MaterializeSession:
    """Drives one connector process from Opened to its exit."""

    def __init__(self, proc: ConnectorProcess, plans: list[BindingPlan], timeout: float) -> None:
        self.proc = proc
        self.plans = plans
        self.timeout = timeout
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            while True:
                msg = await self.proc.read_message("response")
                if msg is None:
                    break
                await self._queue.put(msg)
        except ProtocolError as err:
            await self._queue.put(err)
        await self._queue.put(_EOF)

    async def _take(self, expected: str) -> Any:
        """The next response, or _EOF at the end of the output; `expected` names what is
        awaited in errors (timeout, undecodable output)."""
        try:
            item = await asyncio.wait_for(self._queue.get(), self.timeout)
        except TimeoutError:
            raise ConnectorTimeoutError(
                f"connector did not answer within {self.timeout:g}s (waiting for {expected})",
                self.proc.last_error,
            ) from None
        if item is _EOF:
            self._queue.put_nowait(_EOF)  # every later read sees the end too
        elif isinstance(item, ProtocolError):
            code = await self._exit_code()
            if code:
                raise self.proc.failure(code)
            raise item
        return item

    async def _next(self, expected: str) -> dict[str, Any]:
        """The next response; the end of the output is an error (the connector's failure when it
        exited non-zero, else `unexpected connector EOF (expected …)`)."""
        item = await self._take(expected)
        if item is _EOF:
            raise await self.proc.ended(expected)
        assert isinstance(item, dict)
        return item

    async def _exit_code(self) -> int | None:
        try:
            return await asyncio.wait_for(self.proc.wait(), 5)
        except TimeoutError:
            return None

    def _unexpected(self, expected: str, msg: Any) -> ProtocolError:
        """The error for `msg` where `expected` was due."""
        return ProtocolError(
            f"connector protocol error (expected {expected}): {_clip(msg)}", self.proc.last_error
        )

    async def opened(self) -> dict[str, Any]:
        msg = await self._next("Opened")
        body = msg.get("opened")
        if not isinstance(body, dict):
            raise self._unexpected("Opened", msg)
        return body

    async def _send(self, messages: list[dict[str, Any]]) -> None:
        await self.proc.send_many(messages)

    async def transaction(self, docs: list[list[dict[str, Any]]], checkpoint: dict[str, Any]) -> TxnResult:
        """Materialize one transaction: `docs[b]` are binding b's combined documents in key
        order; `checkpoint` is the runtime checkpoint StartCommit carries."""
        result = TxnResult(stored=[0] * len(self.plans))
        await self._send([{"acknowledge": {}}])
        requested: list[dict[bytes, dict[str, Any]]] = [{} for _ in self.plans]
        keys: list[list[bytes]] = []
        for plan, binding_docs in zip(self.plans, docs, strict=True):
            packed = [plan.key_packed(doc) for doc in binding_docs]
            keys.append(packed)
            if plan.delta:
                continue
            for start in range(0, len(packed), _STORE_CHUNK):
                await self._send(
                    [
                        {"load": {"binding": plan.index, "keyPacked": b64(k)}}
                        for k in packed[start : start + _STORE_CHUNK]
                    ]
                )
        wanted = [set(k) if not plan.delta else set() for plan, k in zip(self.plans, keys, strict=True)]
        acknowledged = False
        while not acknowledged:  # Flush waits for Acknowledged; Loaded may come first
            msg = await self._next("Acknowledged")
            if "acknowledged" in msg:
                acknowledged = True
                _state(msg["acknowledged"], result.states)
            elif "loaded" in msg:
                self._loaded(msg, wanted, requested)
            else:
                raise self._unexpected("Acknowledged", msg)
        await asyncio.sleep(0)  # let the reader queue what has already arrived
        while not self._queue.empty():  # written before Flush was sent: only Loaded may be
            item = self._queue.get_nowait()
            if isinstance(item, dict) and "loaded" in item:
                self._loaded(item, wanted, requested)
                continue
            if isinstance(item, dict):
                raise self._unexpected("Loaded, before Flush", item)
            self._queue.put_nowait(item)  # the end of the output (or a bad line): met at Flushed
            break
        await self._send([{"flush": {}}])
        while True:
            msg = await self._next("Flushed")
            if "loaded" in msg:
                self._loaded(msg, wanted, requested)
            elif "flushed" in msg:
                _state(msg["flushed"], result.states)
                break
            else:
                raise self._unexpected("Flushed", msg)
        result.loaded = sum(len(r) for r in requested)
        await self._store(docs, keys, requested, result)
        await self._send([{"startCommit": {"runtimeCheckpoint": checkpoint}}])
        msg = await self._next("StartedCommit")
        if "startedCommit" not in msg:
            raise self._unexpected("StartedCommit", msg)
        _state(msg["startedCommit"], result.states)
        return result

    def _loaded(
        self, msg: dict[str, Any], wanted: list[set[bytes]], got: list[dict[bytes, dict[str, Any]]]
    ) -> None:
        body = msg["loaded"]
        binding = body.get("binding", 0) if isinstance(body, dict) else None
        doc = body.get("doc") if isinstance(body, dict) else None
        if type(binding) is not int or not 0 <= binding < len(self.plans) or not isinstance(doc, dict):
            raise ProtocolError(
                f"connector protocol error (expected Loaded with a binding and a document): {_clip(msg)}",
                self.proc.last_error,
            )
        plan = self.plans[binding]
        key = plan.key_packed(doc)
        if key not in wanted[binding]:
            raise ProtocolError(
                f"connector protocol error: Loaded document of binding {binding} has key "
                f"{_clip(plan.key_values(doc))}, which was not requested in this transaction",
                self.proc.last_error,
            )
        if key in got[binding]:
            raise ProtocolError(
                f"connector protocol error: key {_clip(plan.key_values(doc))} of binding {binding} was loaded twice "
                "in one transaction",
                self.proc.last_error,
            )
        got[binding][key] = doc

    async def _store(
        self,
        docs: list[list[dict[str, Any]]],
        keys: list[list[bytes]],
        loaded: list[dict[bytes, dict[str, Any]]],
        result: TxnResult,
    ) -> None:
        """One Store per key; the connector may write nothing meanwhile (only exit)."""
        batch: list[dict[str, Any]] = []
        for plan, binding_docs, binding_keys, found in zip(self.plans, docs, keys, loaded, strict=True):
            for doc, key in zip(binding_docs, binding_keys, strict=True):
                prior = found.get(key)
                if prior is not None:
                    doc = plan.reducer.reduce(prior, doc)
                    if not plan.validator.is_valid(doc):
                        self._invalid(plan, doc)
                store: dict[str, Any] = {
                    "binding": plan.index,
                    "keyPacked": b64(key),
                    "valuesPacked": b64(plan.values_packed(doc)),
                }
                if plan.send_doc:
                    store["doc"] = doc
                if prior is not None:
                    store["exists"] = True
                if plan.is_deletion(doc):
                    store["delete"] = True
                batch.append({"store": store})
                result.stored[plan.index] += 1
                if len(batch) >= _STORE_CHUNK:
                    await self._send(batch)
                    batch = []
                    self._nothing_written()
        if batch:
            await self._send(batch)
        await asyncio.sleep(0)
        self._nothing_written()

    def _nothing_written(self) -> None:
        """During stores a response is a protocol violation (an exit is reported at StartedCommit)."""
        if self._queue.empty():
            return
        item = self._queue.get_nowait()
        if item is _EOF or isinstance(item, ProtocolError):
            self._queue.put_nowait(item)
            return
        raise ProtocolError(
            f"connector protocol error (expected no response during Store, then StartedCommit): {_clip(item)}",
            self.proc.last_error,
        )

    def _invalid(self, plan: BindingPlan, doc: dict[str, Any]) -> None:
        error = plan.validator.first_error(doc)
        location, schema_path, message = error or ("", "", "document is invalid")
        key = [untyped(k) for k in plan.key_values(doc)]
        raise DocumentValidationError(plan.collection, key, location, schema_path, message)

    async def close(self) -> list[tuple[Any, bool]]:
        """The graceful end: a last Acknowledge, stdin closed, an optional Acknowledged, exit 0.
        Returns the states of that Acknowledged."""
        states: list[tuple[Any, bool]] = []
        await self._send([{"acknowledge": {}}])
        self.proc.close_stdin()
        item = await self._take("Acknowledged or EOF")
        if item is not _EOF:
            if "acknowledged" not in item:
                raise self._unexpected("Acknowledged or EOF", item)
            _state(item["acknowledged"], states)
            item = await self._take("EOF")
            if item is not _EOF:
                raise self._unexpected("EOF", item)
        code = await self.proc.wait()
        if code != 0:
            raise self.proc.failure(code)
        return states

    async def stop(self) -> None:
        self._reader.cancel()
        await self.proc.stop()
