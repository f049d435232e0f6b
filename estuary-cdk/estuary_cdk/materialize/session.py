"""`MaterializeSession`: the transaction loop of one materialization `open`.

After `opened`, every request belongs to a transaction (flow-protocol §3.4):

    acknowledge            → transactor.acknowledge(), then `acknowledged` (every transaction
                             starts with one, the first right after `opened`)
    load*                  → keys decoded and staged with transactor.load(), in batches
    flush                  → transactor.flush(): `loaded` for each document found, `flushed`
    store*                 → decoded and handed to transactor.store(), in batches; nothing is
                             written back during stores
    startCommit            → transactor.start_commit(checkpoint), then `startedCommit`

Anything out of this order is the runtime's protocol error and ends the session with a message
that names the request and its line. The runtime ends a session by closing the input after an
`acknowledge` and before any load (a clean end, exit 0); an input that ends inside a
transaction (after loads, during stores) ends it with an error, and the transactor's `close`
discards what it had not committed.

`load` and `store` lines are decoded here without pydantic: they are the per-document hot path.
"""

from __future__ import annotations

import binascii
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from .._errors import ConnectorError
from .._input import LineSource
from .._output import OutputWriter
from .._session import ConnectorSession
from ..logger import FlowLogger
from .packed import unpack
from .request import MaterializationBinding, StartCommit
from .response import Acknowledged, ConnectorStateUpdate, Flushed, StartedCommit, to_json
from .transactor import Store, Transactor

__all__ = ["MaterializeProtocolError", "MaterializeSession"]

LOAD_BATCH = 4_096
"""Keys staged with one `Transactor.load` call."""
STORE_BATCH = 256
"""Stores handed over with one `Transactor.store` call: small enough that a batch's documents
stay in the CPU caches until the transactor used them (measured: ~3.5 us per store decoded at 256
or fewer, ~7 us at 1024 or more), large enough to amortize the call."""
LOADED_BUFFER_BYTES = 1 << 20
"""Bytes of `loaded` responses gathered before they are written (and back-pressure applies)."""

_IDLE, _LOADING, _STORING = "awaiting acknowledge", "loading", "storing"
_EXPECTED = {_IDLE: "Acknowledge", _LOADING: "Load or Flush", _STORING: "Store or StartCommit"}
_a2b = binascii.a2b_base64


class MaterializeProtocolError(ConnectorError):
    """The runtime sent something the materialize protocol does not allow at that point."""


def _plain(message: dict[str, Any], name: str) -> tuple[Any, ...]:
    """A load/store's JSON `key`/`values` array (what some test runtimes send instead of the
    packed tuple), with objects and arrays as JSON bytes as in a packed tuple."""
    values = message.get(name) or ()
    return tuple(orjson.dumps(v) if isinstance(v, dict | list) else v for v in values)


def _tuple_of(message: dict[str, Any], packed: str, plain: str) -> tuple[Any, ...]:
    """The packed tuple of a load/store (what the runtime sends), else its JSON array."""
    data = message.get(packed)
    if data:
        return unpack(_a2b(data, strict_mode=True))
    return _plain(message, plain)


def _binding_of(message: dict[str, Any], n_bindings: int) -> int:
    binding = message.get("binding", 0)
    if not isinstance(binding, int) or not 0 <= binding < n_bindings:
        raise ValueError(f"binding {binding} is out of range ({n_bindings} bindings)")
    return binding


@dataclass
class _Transaction:
    """Where the current transaction stands."""

    phase: str = _IDLE
    staged: dict[int, list[tuple[Any, ...]]] = field(default_factory=dict)  # keys not yet loaded
    staged_count: int = 0
    loads_seen: int = 0
    stores: list[Store] = field(default_factory=list)  # stores not yet handed over
    stores_seen: int = 0


class MaterializeSession(ConnectorSession):
    """See the module docstring."""

    def __init__(
        self,
        log: FlowLogger,
        writer: OutputWriter,
        source: LineSource,
        transactor: Transactor,
        bindings: Sequence[MaterializationBinding[Any]],
    ) -> None:
        super().__init__(log, writer)
        self.source = source
        self.transactor = transactor
        self._delta = [b.deltaUpdates for b in bindings]
        self._txn = _Transaction()
        self.transactions = 0

    def input_closed(self) -> None:
        """Nothing to do: the loop reads the input itself and sees its end."""

    def _error(self, lineno: int, problem: str) -> MaterializeProtocolError:
        return MaterializeProtocolError(f"materialize protocol error on input line {lineno}: {problem}")

    def _out_of_order(self, lineno: int, kind: str, phase: str) -> MaterializeProtocolError:
        return self._error(lineno, f"{kind} while {phase} (expected {_EXPECTED[phase]})")

    async def run(self) -> None:
        """Run transactions until the input ends; raises on a protocol error or a failure of the
        transactor, whose `close` runs either way."""
        try:
            await self._loop()
        finally:
            await self.transactor.close()

    async def _loop(self) -> None:
        """Read every line; `store` lines (the hot path) are decoded right here, everything else
        goes to a handler."""
        source, txn = self.source, self._txn
        n_bindings = len(self._delta)
        loads = orjson.loads
        while True:
            lineno = source.lineno
            batch = await source.next_batch()
            if batch is None:
                break
            for offset, line in enumerate(batch):
                if not line:
                    continue
                try:
                    message = loads(line)
                    store = message.get("store")
                except (orjson.JSONDecodeError, AttributeError):
                    if not line.strip():
                        continue
                    raise self._error(lineno + offset, f"not a JSON object: {line[:200]!r}") from None
                if store is None:
                    await self._on_other(message, lineno + offset)
                    continue
                if txn.phase is not _STORING:
                    raise self._out_of_order(lineno + offset, "Store", txn.phase)
                try:
                    get = store.get
                    binding = get("binding", 0)
                    if binding.__class__ is not int or not 0 <= binding < n_bindings:
                        raise ValueError(f"binding {binding} is out of range ({n_bindings} bindings)")
                    packed_key, packed_values = get("keyPacked"), get("valuesPacked")
                    txn.stores.append(
                        Store(
                            binding,
                            unpack(_a2b(packed_key, strict_mode=True))
                            if packed_key
                            else _plain(store, "key"),
                            unpack(_a2b(packed_values, strict_mode=True))
                            if packed_values
                            else _plain(store, "values"),
                            get("doc"),
                            get("exists", False),
                            get("delete", False),
                        )
                    )
                except (ValueError, TypeError, AttributeError) as exc:
                    raise self._error(lineno + offset, f"invalid Store: {exc}") from None
                if len(txn.stores) >= STORE_BATCH:
                    await self._hand_over_stores()
        self._check_end()

    async def _on_other(self, message: dict[str, Any], lineno: int) -> None:
        """A request other than `store`."""
        txn = self._txn
        load = message.get("load")
        if load is not None:
            await self._on_load(load, lineno)
        elif "acknowledge" in message:
            if txn.phase is not _IDLE:
                raise self._out_of_order(lineno, "Acknowledge", txn.phase)
            await self._respond("acknowledged", Acknowledged(state=await self.transactor.acknowledge()))
            txn.phase, txn.loads_seen = _LOADING, 0
        elif "flush" in message:
            if txn.phase is not _LOADING:
                raise self._out_of_order(lineno, "Flush", txn.phase)
            await self._stage()
            await self._flush()
            txn.phase, txn.stores_seen = _STORING, 0
        elif "startCommit" in message:
            await self._on_start_commit(message["startCommit"], lineno)
        else:
            kinds = ", ".join(sorted(message)) or "nothing"
            raise self._error(
                lineno, f"unexpected {kinds} while {txn.phase} (expected {_EXPECTED[txn.phase]})"
            )

    async def _on_load(self, load: Any, lineno: int) -> None:
        txn = self._txn
        if txn.phase is not _LOADING:
            raise self._out_of_order(lineno, "Load", txn.phase)
        try:
            binding = _binding_of(load, len(self._delta))
            if self._delta[binding]:
                raise ValueError(f"binding {binding} uses delta updates, which never load")
            key = _tuple_of(load, "keyPacked", "key")
        except (ValueError, TypeError, AttributeError) as exc:
            raise self._error(lineno, f"invalid Load: {exc}") from None
        txn.staged.setdefault(binding, []).append(key)
        txn.staged_count += 1
        txn.loads_seen += 1
        if txn.staged_count >= LOAD_BATCH:
            await self._stage()

    async def _on_start_commit(self, body: Any, lineno: int) -> None:
        txn = self._txn
        if txn.phase is not _STORING:
            raise self._out_of_order(lineno, "StartCommit", txn.phase)
        await self._hand_over_stores()
        try:
            checkpoint = StartCommit.model_validate(body or {}).runtimeCheckpoint
        except ValueError as exc:
            raise self._error(lineno, f"invalid StartCommit: {exc}") from None
        state = await self.transactor.start_commit(checkpoint)
        await self._respond("startedCommit", StartedCommit(state=state))
        self.transactions += 1
        self.log.debug(
            "committed a transaction", {"stores": txn.stores_seen, "transaction": self.transactions}
        )
        txn.phase = _IDLE

    async def _hand_over_stores(self) -> None:
        txn = self._txn
        if txn.stores:
            stores, txn.stores = txn.stores, []
            txn.stores_seen += len(stores)
            await self.transactor.store(stores)

    def _check_end(self) -> None:
        """The input ended: between transactions (or right after an acknowledge) is a clean end,
        anywhere else the runtime stopped in the middle of a transaction."""
        txn = self._txn
        if txn.phase is _STORING or (txn.phase is _LOADING and txn.loads_seen):
            what = (
                f"{txn.stores_seen + len(txn.stores)} store(s)"
                if txn.phase is _STORING
                else f"{txn.loads_seen} load(s)"
            )
            raise MaterializeProtocolError(
                f"the runtime closed the input in the middle of a transaction (after {what}, expected "
                f"{_EXPECTED[txn.phase]}); its stores were not committed"
            )
        self.log.debug(
            "input closed between transactions: the session ends", {"transactions": self.transactions}
        )

    async def _stage(self) -> None:
        """Hand the keys staged so far to the transactor."""
        txn = self._txn
        staged, txn.staged, txn.staged_count = txn.staged, {}, 0
        for binding, keys in staged.items():
            await self.transactor.load(binding, keys)

    async def _flush(self) -> None:
        """transactor.flush(), writing `loaded` responses as they come and `flushed` last."""
        buffer = bytearray()
        writer = self.writer
        n_bindings = len(self._delta)

        async def loaded(binding: int, doc: Any) -> None:
            nonlocal buffer
            if not 0 <= binding < n_bindings:
                raise ConnectorError(
                    f"the transactor loaded a document for binding {binding}, which does not exist"
                )
            if isinstance(doc, bytes):
                body = doc
            elif isinstance(doc, str):
                body = doc.encode()
            else:
                body = orjson.dumps(doc)
            buffer += b'{"loaded":{"binding":%d,"doc":' % binding
            buffer += body
            buffer += b"}}\n"
            if len(buffer) >= LOADED_BUFFER_BYTES:
                writer.write(buffer)
                buffer = bytearray()
                await writer.throttle()

        state = await self.transactor.flush(loaded)
        buffer += to_json("flushed", Flushed(state=state))
        writer.write(buffer)
        await writer.throttle()

    async def _respond(self, kind: str, body: Acknowledged | StartedCommit) -> None:
        await self.emit(to_json(kind, body))


def state_update(updated: dict[str, Any], merge_patch: bool = True) -> ConnectorStateUpdate:
    """A connector state update for `flush`, `start_commit` or `acknowledge` to return."""
    return ConnectorStateUpdate(updated=updated, mergePatch=merge_patch)
