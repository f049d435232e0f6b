"""materialize-sqlite that dies on purpose: `CRASH_AT=<step>:<n>` ends the process with
`os._exit(1)` (no cleanup, like a kill) the n-th time the transactor reaches `step`:
load, flush, store, start_commit (before the commit), committed (after the commit, before
`startedCommit` is written) or acknowledge."""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

from estuary_cdk.materialize import Loaded, Store, Transactor
from estuary_cdk.materialize.response import ConnectorStateUpdate
from materialize_sqlite import Connector

_seen: Counter[str] = Counter()


def _step(name: str) -> None:
    step, _, nth = os.environ.get("CRASH_AT", "").partition(":")
    _seen[name] += 1
    if step == name and _seen[name] == int(nth or 1):
        os._exit(1)


class CrashingTransactor(Transactor):
    def __init__(self, inner: Transactor) -> None:
        self.inner = inner

    async def load(self, binding: int, keys: list[tuple[Any, ...]]) -> None:
        _step("load")
        await self.inner.load(binding, keys)

    async def flush(self, loaded: Loaded) -> ConnectorStateUpdate | None:
        _step("flush")
        return await self.inner.flush(loaded)

    async def store(self, stores: list[Store]) -> None:
        _step("store")
        await self.inner.store(stores)

    async def start_commit(self, runtime_checkpoint: dict[str, Any]) -> ConnectorStateUpdate | None:
        _step("start_commit")
        state = await self.inner.start_commit(runtime_checkpoint)
        _step("committed")
        return state

    async def acknowledge(self) -> ConnectorStateUpdate | None:
        _step("acknowledge")
        return await self.inner.acknowledge()

    async def close(self) -> None:
        await self.inner.close()


class CrashingConnector(Connector):
    async def transactor(self, *args: Any, **kwargs: Any) -> Transactor:
        return CrashingTransactor(await super().transactor(*args, **kwargs))
