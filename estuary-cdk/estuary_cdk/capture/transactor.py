"""Commits task buffers to the output and, when the runtime sends explicit acknowledgements,
matches them to commits in FIFO order."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import BinaryIO

from .._errors import ConnectorError
from .._output import Chunk, OutputWriter

__all__ = ["AcknowledgementProtocolError", "AcknowledgementsEnded", "Transactor"]


class AcknowledgementsEnded(ConnectorError):
    """The runtime closed the connector's input while a checkpoint still waited for its
    acknowledgement, so none can arrive anymore.

    The runtime ending our input is a shutdown, not a connector failure: whether the documents
    of an unacknowledged checkpoint were committed is unknown (at-least-once: the next session
    resumes from whatever state the runtime did commit). `checkpoint` numbers this session's
    checkpoints from 1 in the order they were written; `written` tells whether this one reached
    the output at all (a commit asked for after the input closed is refused, not written).
    """

    def __init__(self, checkpoint: int, *, written: bool = True) -> None:
        self.checkpoint = checkpoint
        self.written = written
        if written:
            message = (
                f"the runtime closed the input before acknowledging checkpoint {checkpoint}, "
                "so its documents may or may not be durable"
            )
        else:
            message = (
                f"checkpoint {checkpoint} was not written: the runtime closed the input, "
                "so it could never be acknowledged"
            )
        super().__init__(message)


class AcknowledgementProtocolError(ConnectorError):
    """The runtime acknowledged more checkpoints than the connector wrote and had not yet seen
    acknowledged. An acknowledgement counts checkpoints in the order they were written, so an
    excess one means the runtime and the connector disagree about what is durable: continuing
    could let the connector believe unwritten work was committed."""

    def __init__(self, acknowledged: int, pending: int, *, before_opened: bool = False) -> None:
        self.acknowledged = acknowledged
        self.pending = pending
        when = (
            "before the capture opened, when no checkpoint can be"
            if before_opened
            else (f"when only {pending} written checkpoint(s) were")
        )
        super().__init__(
            f"connector protocol error: the runtime acknowledged {acknowledged} checkpoint(s) "
            f"{when} awaiting an acknowledgement"
        )


class Transactor:
    """Writes commits through one `OutputWriter`: the session's (the connector's writer), or,
    given a plain output (the reference kit's signature, tests), a writer of its own."""

    def __init__(self, output: BinaryIO | OutputWriter, requires_explicit_acks: bool = False) -> None:
        self._writer = output if isinstance(output, OutputWriter) else OutputWriter(output)
        self.output = self._writer.output
        self.requires_explicit_acks = requires_explicit_acks
        # One slot per commit, in commit order: a future when the committer waits for its ACK.
        self._pending: deque[asyncio.Future[None] | None] = deque()
        # Checkpoints of this session numbered so far (for messages): every commit tracked for
        # an ACK, and every commit refused once acknowledgements ended.
        self._numbered = 0
        self._ended = False
        self._unacknowledged = 0
        self._refused = 0

    async def drain(self) -> None:
        """Wait until every commit so far reached the output."""
        await self._writer.drain()

    @property
    def pending_acks(self) -> int:
        return len(self._pending)

    @property
    def acknowledgements_ended(self) -> bool:
        """Whether `end_acknowledgements` was called: waiting for an ACK now fails at once."""
        return self._ended

    @property
    def unacknowledged(self) -> int:
        """Written checkpoints that will never be acknowledged: those pending when
        acknowledgements ended, and those written (without waiting) since."""
        return self._unacknowledged

    @property
    def refused(self) -> int:
        """Commits that wanted an acknowledgement after acknowledgements ended (not written)."""
        return self._refused

    async def commit(self, buffer: Chunk, wait_for_ack: bool = False) -> asyncio.Future[None] | None:
        """Write `buffer` (ending in a checkpoint) as one unit. With explicit acknowledgements,
        returns a future resolved when the runtime acknowledges this commit if `wait_for_ack`.

        Once acknowledgements ended, a commit that would wait for one raises
        `AcknowledgementsEnded` without writing anything: it could only ever fail later, and
        documents that are not written cannot leave the sender unsure whether they were kept."""
        if wait_for_ack and not self.requires_explicit_acks:
            raise RuntimeError(
                "commit(wait_for_ack=True) requires a Transactor with requires_explicit_acks=True"
            )
        if wait_for_ack and self._ended:
            self._refused += 1
            self._numbered += 1
            raise AcknowledgementsEnded(self._numbered, written=False)
        # Queue the write and its ACK slot without an await in between, so the FIFO order is the
        # order in which checkpoints reach the runtime.
        self._writer.write(buffer)
        fut: asyncio.Future[None] | None = None
        if self.requires_explicit_acks:
            self._numbered += 1
            if self._ended:
                self._unacknowledged += 1  # Written, but nothing will ever acknowledge it.
            else:
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
            raise AcknowledgementProtocolError(count, len(self._pending))
        for _ in range(count):
            fut = self._pending.popleft()
            if fut is not None and not fut.done():
                fut.set_result(None)

    def end_acknowledgements(self) -> int:
        """No acknowledgement can arrive anymore (the runtime closed our input): fail every
        waiter with `AcknowledgementsEnded` naming its checkpoint, and make later commits that
        would wait fail the same way at once. Returns how many written checkpoints were left
        unacknowledged; calling it again changes nothing and returns 0."""
        if self._ended:
            return 0
        self._ended = True
        left = len(self._pending)
        self._unacknowledged = left
        first = self._numbered - left + 1
        for offset, fut in enumerate(self._pending):
            if fut is not None and not fut.done():
                fut.set_exception(AcknowledgementsEnded(first + offset))
        self._pending.clear()
        return left
