"""The user-visible status line of a running capture ("Backfilling 2 out of 5 bindings")."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..logger import FlowLogger
    from .task import Stopping

__all__ = ["ConnectorStatus"]

Sleep = Callable[[float], Awaitable[None]]


class ConnectorStatus:
    """Counts bindings and backfilling bindings and logs a `connectorStatus` event when the
    counts change (checked every `INTERVAL` seconds after an `INITIAL_DELAY`, so a burst of
    bindings starting up yields one status line, not dozens)."""

    INITIAL_DELAY = 5.0
    INTERVAL = 1.0

    def __init__(self, log: FlowLogger, stopping: Stopping, sleep: Sleep = asyncio.sleep) -> None:
        self.log = log
        self.stopping = stopping
        self._sleep = sleep
        self._binding_count = 0
        self._backfilling: dict[int, int] = {}
        self._last_message: str | None = None
        self._task: asyncio.Task[None] | None = None
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is not None:
            self._task = loop.create_task(self._run(), name="connector-status")

    @property
    def binding_count(self) -> int:
        return self._binding_count

    @property
    def backfilling_count(self) -> int:
        return len(self._backfilling)

    def inc_binding_count(self) -> None:
        self._binding_count += 1

    def inc_backfilling(self, binding_index: int) -> None:
        self._backfilling[binding_index] = self._backfilling.get(binding_index, 0) + 1

    def dec_backfilling(self, binding_index: int) -> None:
        count = self._backfilling.get(binding_index)
        if count is None:
            raise RuntimeError(f"binding {binding_index} is not backfilling")
        if count == 1:
            del self._backfilling[binding_index]
        else:
            self._backfilling[binding_index] = count - 1

    def message(self) -> str:
        if self._backfilling:
            return f"Backfilling {len(self._backfilling)} out of {self._binding_count} bindings"
        return f"Streaming change events (all {self._binding_count} bindings are backfilled)"

    def emit_if_changed(self) -> bool:
        """Log the status event if it differs from the last one logged; returns whether it did."""
        if self._binding_count == 0:
            return False
        msg = self.message()
        if msg == self._last_message:
            return False
        self._last_message = msg
        self.log.event.status(msg)
        return True

    async def _run(self) -> None:
        await self._sleep(self.INITIAL_DELAY)
        while not self.stopping.event.is_set():
            self.emit_if_changed()
            await self._sleep(self.INTERVAL)

    def close(self) -> None:
        """Stop the background status loop."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
