"""Commits task buffers to the output and, when the runtime sends explicit acknowledgements,
matches them to commits in FIFO order."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import BinaryIO

from ._emit import Chunk, writer_for

__all__ = ["Transactor"]


class Transactor:
    def __init__(self, output: BinaryIO, requires_explicit_acks: bool = False) -> None:
        self.output = output
        self.requires_explicit_acks = requires_explicit_acks
        self._writer = writer_for(output)
        # One slot per commit, in commit order: a future when the committer waits for its ACK.
        self._pending: deque[asyncio.Future[None] | None] = deque()

    @property
    def pending_acks(self) -> int:
        return len(self._pending)

    async def commit(self, buffer: Chunk, wait_for_ack: bool = False) -> asyncio.Future[None] | None:
        """Write `buffer` (ending in a checkpoint) as one unit. With explicit acknowledgements,
        returns a future resolved when the runtime acknowledges this commit if `wait_for_ack`."""
        if wait_for_ack and not self.requires_explicit_acks:
            raise RuntimeError(
                "commit(wait_for_ack=True) requires a Transactor with requires_explicit_acks=True"
            )
        # Queue the write and its ACK slot without an await in between, so the FIFO order is the
        # order in which checkpoints reach the runtime.
        self._writer.write(buffer)
        fut: asyncio.Future[None] | None = None
        if self.requires_explicit_acks:
            if wait_for_ack:
                fut = asyncio.get_running_loop().create_future()
            self._pending.append(fut)
        await self._writer.throttle()
        return fut

    def deliver_ack(self, count: int) -> None:
        """The runtime durably committed the `count` oldest unacknowledged checkpoints."""
        if not self.requires_explicit_acks or count == 0:
            return
        if count > len(self._pending):
            raise RuntimeError(
                f"received ACK for {count} checkpoint(s) but only {len(self._pending)} are pending"
            )
        for _ in range(count):
            fut = self._pending.popleft()
            if fut is not None and not fut.done():
                fut.set_result(None)
