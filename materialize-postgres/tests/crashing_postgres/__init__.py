"""materialize-postgres that dies on purpose: `CRASH_AT=<step>:<n>` ends the process with
`os._exit(1)` (no cleanup, no rollback sent: like a kill) the n-th time the transactor reaches
`step`: load, flush, store, start_commit (before the commit), committed (after the database
commit, before `startedCommit` is written) or acknowledge."""

from __future__ import annotations

import functools
import os
from collections.abc import Awaitable, Callable
from typing import Any

from estuary_cdk.materialize import Transactor
from materialize_postgres import Connector

_STEP, _, _NTH = os.environ.get("CRASH_AT", "").partition(":")
_remaining = int(_NTH or 1)


def _step(name: str) -> None:
    global _remaining
    if name == _STEP:
        _remaining -= 1
        if _remaining == 0:
            os._exit(1)


def _crashing(
    method: Callable[..., Awaitable[Any]], before: str, after: str | None = None
) -> Callable[..., Any]:
    @functools.wraps(method)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        _step(before)
        result = await method(*args, **kwargs)
        if after is not None:
            _step(after)
        return result

    return wrapper


class CrashingConnector(Connector):
    async def transactor(self, *args: Any, **kwargs: Any) -> Transactor:
        inner = await super().transactor(*args, **kwargs)
        for name in ("load", "flush", "store", "acknowledge"):
            setattr(inner, name, _crashing(getattr(inner, name), name))
        setattr(inner, "start_commit", _crashing(inner.start_commit, "start_commit", "committed"))  # noqa: B010
        return inner
