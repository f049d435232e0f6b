"""`CaptureSession`: one capture `open`, from `opened` to the end of the process.

It owns what lives exactly as long as the capture: the `Transactor` that commits task buffers
and matches acknowledgements, the `Stopping` signal every task shares, the watchers that end a
capture (periodic restart, the graceful-shutdown deadline), the webhook server's shutdown and
the report of checkpoints left unacknowledged.

When the runtime closes the input of a session with explicit acknowledgements, no
acknowledgement can arrive anymore: the capture is asked to stop, every task awaiting one gets
`AcknowledgementsEnded` at once (a webhook request waiting for it is answered 503), and later
checkpoints that would wait are refused unwritten. That is a shutdown, not a connector failure:
if those are the only errors, the process exits 0 and its last line is a WARNING counting the
checkpoints left unacknowledged; any other error still exits 1 with its message last.
Without explicit acknowledgements the runtime may close the input right after ``open``, and the
capture carries on.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from .._errors import Stopped
from .._output import OutputWriter
from .._session import ConnectorSession
from ..http._clock import SYSTEM_CLOCK, Clock
from ..logger import FlowLogger
from ..utils import format_error_message, get_running_tasks_info
from .connector_status import ConnectorStatus
from .task import Stopping, Task
from .transactor import AcknowledgementProtocolError, AcknowledgementsEnded, Transactor

__all__ = ["CaptureSession", "Runner", "SessionLimits"]

Runner = Callable[[Task], Awaitable[None]]


@dataclass(frozen=True)
class SessionLimits:
    """How long a capture runs and how long its shutdown may take (the connector's settings)."""

    restart_interval: timedelta
    graceful_shutdown_timeout: timedelta
    task_cancellation_timeout: timedelta
    webhook_shutdown_timeout: timedelta


class CaptureSession(ConnectorSession):
    """See the module docstring. Created by the connector when `open` arrives; `start` once
    `opened` is written, then `run` until the capture ends (it always raises `Stopped`)."""

    def __init__(
        self, log: FlowLogger, writer: OutputWriter, limits: SessionLimits, clock: Clock = SYSTEM_CLOCK
    ) -> None:
        super().__init__(log, writer)
        self.limits = limits
        self.clock = clock
        self.stopping = Stopping()
        self.transactor: Transactor | None = None
        self._input_closed = False
        self._acks_before_opened = 0

    # -- what the connector tells the session --------------------------------------------------

    def start(self, explicit_acknowledgements: bool) -> Transactor:
        """The capture opened: commits go through a transactor from now on."""
        if explicit_acknowledgements and self._acks_before_opened:
            raise AcknowledgementProtocolError(self._acks_before_opened, 0, before_opened=True)
        self.transactor = Transactor(self.writer, requires_explicit_acks=explicit_acknowledgements)
        if self._input_closed:
            self._end_acknowledgements()
        return self.transactor

    @property
    def pending_acks(self) -> int:
        """Written checkpoints the runtime has not acknowledged yet."""
        return self.transactor.pending_acks if self.transactor is not None else 0

    def acknowledge(self, checkpoints: int) -> None:
        """The runtime durably committed the `checkpoints` oldest unacknowledged checkpoints.
        One that arrives before the capture opened can only be a protocol error if the capture
        asks for acknowledgements (`start` says so); without them the runtime sends none."""
        if self.transactor is not None:
            self.transactor.deliver_ack(checkpoints)
        else:
            self._acks_before_opened += checkpoints

    def input_closed(self) -> None:
        """No acknowledgement can arrive anymore. A capture waiting for them stops gracefully
        rather than wait forever (e.g. a webhook request answered only once acknowledged), and
        every task awaiting one gets `AcknowledgementsEnded` at once rather than when the
        graceful-shutdown timer cancels it."""
        self._input_closed = True
        self._end_acknowledgements()

    def _end_acknowledgements(self) -> None:
        transactor = self.transactor
        if transactor is None or not transactor.requires_explicit_acks or transactor.acknowledgements_ended:
            return
        if not self.stopping.event.is_set():
            self.log.info("input closed: no acknowledgement can arrive anymore, so the capture stops")
            self.stopping.event.set()
        transactor.end_acknowledgements()

    # -- running -------------------------------------------------------------------------------

    async def run(self, capture: Runner, catalog_task_name: str, has_bindings: bool) -> None:
        """Run `capture` under a root task until every task stopped; raises `Stopped` with the
        first task error, or without one for a clean end."""
        transactor = self.transactor
        if transactor is None:
            raise RuntimeError("CaptureSession.run before start")
        log, stopping = self.log, self.stopping
        status = ConnectorStatus(log, stopping)
        session = asyncio.current_task()
        terminated = asyncio.Event()
        watchers = [
            asyncio.create_task(self._periodic_restart(), name="periodic-restart"),
            asyncio.create_task(self._enforce_shutdown(session, terminated), name="shutdown-enforcer"),
        ]
        try:
            async with asyncio.TaskGroup() as tg:
                task = Task(
                    log.getChild("capture"),
                    status,
                    "capture",
                    self.writer.output,
                    stopping,
                    tg,
                    transactor,
                    catalog_task_name=catalog_task_name,
                    requires_ack=transactor.requires_explicit_acks,
                    clock=self.clock,
                )
                log.event.status(
                    "Capture started." if has_bindings else "Capture started. No bindings are enabled."
                )
                try:
                    await capture(task)
                except AcknowledgementsEnded as exc:
                    # The capture is stopping (the input closed); its child tasks still finish
                    # gracefully, and the outcome is reported once they did.
                    log.debug(f"capture: {exc}")
        except asyncio.CancelledError:
            if terminated.is_set():
                raise Stopped(
                    "capture tasks did not stop within "
                    f"{self.limits.graceful_shutdown_timeout} of being asked to and were cancelled"
                ) from None
            raise
        finally:
            await self._stop_webhook_server()
            for watcher in watchers:
                watcher.cancel()
            status.close()

        self._report_unacknowledged(transactor)
        if stopping.first_error is not None:
            raise Stopped(f"Task {stopping.first_error_task}: {format_error_message(stopping.first_error)}")
        raise Stopped(None)

    def _report_unacknowledged(self, transactor: Transactor) -> None:
        """A capture whose input closed before every checkpoint was acknowledged still exits
        0: the runtime ending our input is a shutdown, not a connector failure. Say so, since
        what became of those checkpoints' documents is unknown to us."""
        if not transactor.acknowledgements_ended:
            return
        left, refused = transactor.unacknowledged, transactor.refused
        if not left and not refused:
            return
        parts = []
        if left:
            parts.append(
                f"{left} written checkpoint(s) were left unacknowledged, "
                "so their documents may or may not be durable"
            )
        if refused:
            parts.append(f"{refused} checkpoint(s) were not written")
        self.log.warning(
            "the runtime closed the input before acknowledging every checkpoint: "
            + " and ".join(parts)
            + "; the next session resumes from the last state the runtime committed",
            {"unacknowledged": left, "not_written": refused},
        )

    async def _stop_webhook_server(self) -> None:
        """Once every other capture task stopped, let the webhook server (if any) answer 503 to
        new requests, finish those in flight and close."""
        server = self.stopping.webhook_task
        if server is None:
            return
        self.stopping.webhook_event.set()
        timeout = self.limits.webhook_shutdown_timeout
        try:
            await asyncio.wait_for(server, timeout.total_seconds())
        except TimeoutError:
            self.log.error(f"the webhook server did not shut down within {timeout}; exiting")
            await self._exit_now()
        except Exception as exc:
            self.stopping.record_error(exc, "webhook-server")

    async def _periodic_restart(self) -> None:
        interval = self.limits.restart_interval
        await asyncio.sleep(interval.total_seconds())
        self.log.info("stopping for the periodic restart", {"interval": interval})
        self.stopping.event.set()

    async def _enforce_shutdown(self, session: asyncio.Task[Any] | None, terminated: asyncio.Event) -> None:
        """Once asked to stop, give the tasks the graceful-shutdown timeout, then cancel them, and
        if even that does not end them, exit the process."""
        await self.stopping.event.wait()
        graceful = self.limits.graceful_shutdown_timeout
        await asyncio.sleep(graceful.total_seconds())
        running = [
            {"task_name": i.task_name, "coro_name": i.coro_name, "stack_trace": i.stack_trace}
            for i in get_running_tasks_info(exclude_tasks=[t for t in [asyncio.current_task()] if t])
        ]
        self.log.warning(
            f"Graceful exit has not finished in {graceful}. Cancelling capture tasks.",
            {"running_task_count": len(running), "running_tasks": running},
        )
        terminated.set()
        if session is not None:
            session.cancel()
        cancellation = self.limits.task_cancellation_timeout
        await asyncio.sleep(cancellation.total_seconds())
        self.log.error(f"capture tasks were not cancelled within {cancellation}; exiting")
        await self._exit_now()

    async def _exit_now(self) -> None:
        """Exit at once with status 1 (a task that ignores cancellation cannot be awaited), after
        every response already written reached the output."""
        await self.writer.drain()
        os._exit(1)
