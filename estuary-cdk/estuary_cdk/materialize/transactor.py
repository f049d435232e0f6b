"""The `Transactor`: what a materialization connector implements to run transactions.

The kit's transaction loop (`session.py`) reads the runtime's requests, enforces their order
(flow-protocol §3.4) and calls the transactor with decoded keys and values, in batches:

    acknowledge()                the previous transaction committed in the runtime's log
    load(binding, keys)*         keys whose stored documents the runtime wants (standard updates)
    flush(loaded)                no more loads: send each stored document found, with `loaded`
    store(stores)*               the transaction's combined documents, to be written
    start_commit(checkpoint)     commit the stores (with the runtime checkpoint, for exactly-once)

Each may return a `ConnectorStateUpdate` (flush, start_commit, acknowledge) that the runtime
commits as described in §3.2. `close()` runs once at the end of the session, whatever happened.
"""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Callable
from typing import Any

from .response import ConnectorStateUpdate

__all__ = ["Loaded", "Store", "Transactor"]


class Store:
    """One `store` request, decoded: the binding, its key and values (tuples in the order of the
    binding's field selection; objects and arrays as the `bytes` of their JSON), the document
    (parsed JSON, or None when the binding selects no document field), and whether the key
    `exists` in the destination and whether the document is a deletion."""

    __slots__ = ("binding", "delete", "doc", "exists", "key", "values")

    def __init__(
        self,
        binding: int,
        key: tuple[Any, ...],
        values: tuple[Any, ...],
        doc: Any,
        exists: bool,
        delete: bool,
    ) -> None:
        self.binding = binding
        self.key = key
        self.values = values
        self.doc = doc
        self.exists = exists
        self.delete = delete

    def __repr__(self) -> str:
        return (
            f"Store(binding={self.binding}, key={self.key!r}, values={self.values!r}, "
            f"exists={self.exists}, delete={self.delete})"
        )


Loaded = Callable[[int, Any], Awaitable[None]]
"""`await loaded(binding, doc)` sends one stored document found by a load. `doc` is the
document's JSON text (`bytes` or `str`, written as is) or a JSON value."""


class Transactor(abc.ABC):
    """See the module docstring. Calls never overlap: the loop awaits each before the next."""

    async def load(self, binding: int, keys: list[tuple[Any, ...]]) -> None:
        """Stage `keys` of `binding` (each sent at most once per transaction) for the lookup
        `flush` makes. Only bindings with standard updates receive loads."""
        raise NotImplementedError(f"{type(self).__name__} does not load documents (delta updates only)")

    async def flush(self, loaded: Loaded) -> ConnectorStateUpdate | None:
        """Send every stored document of the keys staged by `load` since the last flush (keys
        not stored are left out), then forget them."""
        return None

    @abc.abstractmethod
    async def store(self, stores: list[Store]) -> None:
        """Write a batch of this transaction's documents (each key at most once per
        transaction). Nothing must become visible before `start_commit`."""

    @abc.abstractmethod
    async def start_commit(self, runtime_checkpoint: dict[str, Any]) -> ConnectorStateUpdate | None:
        """Commit the transaction's stores. A destination that keeps the runtime checkpoint with
        the data (exactly-once) commits both atomically here and returns it from `Opened` on the
        next open."""

    async def acknowledge(self) -> ConnectorStateUpdate | None:
        """The runtime committed the previous transaction (also sent once right after open).
        Connectors that stage data and apply it after the runtime's commit do so here."""
        return None

    async def close(self) -> None:
        """The session ended (cleanly or not): release connections. An uncommitted transaction
        must not become visible."""
        return None
