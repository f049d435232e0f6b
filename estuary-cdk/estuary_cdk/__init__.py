"""Estuary connector development kit: the process framework every connector runs in.

`BaseConnector.serve()` reads newline-delimited JSON requests from stdin (a pipe, a socket, a
terminal or a regular file), dispatches each to `handle()`, and owns the process outcome: it
returns normally on a clean end and raises `SystemExit(1)` on failure, after logging the reason
as the last ERROR line on stderr.
"""

from __future__ import annotations

import abc
import asyncio
import signal
import sys
import threading
from collections.abc import AsyncGenerator, Callable
from typing import Any, BinaryIO, Generic, TypeVar

from pydantic import BaseModel

from ._errors import ConnectorError, MalformedRequestError, Stopped
from ._input import MAX_REQUEST_LINE, parse_request_line, stdin_jsonl
from ._output import OutputWriter
from ._session import InputEnd
from .flow import ValidationError
from .logger import FlowLogger, init_logger
from .utils import format_error_message, get_running_tasks_info

__all__ = [
    "MAX_REQUEST_LINE",
    "BaseConnector",
    "ConnectorError",
    "FlowLogger",
    "MalformedRequestError",
    "Mixin",
    "Request",
    "Stopped",
    "ValidationError",
    "init_logger",
    "parse_request_line",
    "stdin_jsonl",
]

Request = TypeVar("Request", bound=BaseModel)


class Mixin(abc.ABC):
    """A base class with an async lifecycle: `serve()` calls `_mixin_enter` of each direct base
    class of the connector before reading requests and `_mixin_exit` (in reverse) at the end."""

    @abc.abstractmethod
    async def _mixin_enter(self, log: FlowLogger) -> None: ...

    @abc.abstractmethod
    async def _mixin_exit(self, log: FlowLogger) -> None: ...


def _flatten(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        out: list[BaseException] = []
        for inner in exc.exceptions:
            out.extend(_flatten(inner))
        return out
    return [exc]


class BaseConnector(Generic[Request], abc.ABC):
    output: BinaryIO = sys.stdout.buffer
    """Where responses go (the runtime reads stdout). Tests may point it elsewhere before
    `serve`."""

    _sigquit_received: bool = False
    _output_writer: OutputWriter | None = None
    _input_end: InputEnd | None = None

    @property
    def input_end(self) -> InputEnd:
        """Whether the runtime closed our input; sessions subscribe to learn when it does."""
        if self._input_end is None:
            self._input_end = InputEnd()
        return self._input_end

    @classmethod
    @abc.abstractmethod
    def request_class(cls) -> type[Request]:
        """The request model this connector parses each line into."""
        raise NotImplementedError()

    @abc.abstractmethod
    async def handle(self, log: FlowLogger, request: Request) -> None:
        raise NotImplementedError()

    def _handle_concurrently(self, request: Request) -> bool:
        """Whether `request` runs as its own task while later lines are read (a long-running
        session) or is handled before the next line is read (keeps unary responses in order)."""
        return True

    async def exit(self, log: FlowLogger) -> None:
        """Hook called at the very end of `serve`."""

    @property
    def writer(self) -> OutputWriter:
        """The one writer of `output`: every response of this connector goes through it, in
        order (created on first use, and anew if `output` was replaced)."""
        writer = self._output_writer
        if writer is None or writer.output is not self.output:
            writer = self._output_writer = OutputWriter(self.output)
        return writer

    async def _drain_output(self) -> None:
        """Wait until every response written so far reached the output (before exiting)."""
        if self._output_writer is not None:
            await self._output_writer.drain()

    async def serve(
        self,
        log: FlowLogger | None = None,
        requests: Callable[[type[Request]], AsyncGenerator[Request, None]] = stdin_jsonl,
    ) -> None:
        """Serve requests until they end and every handler finished. Raises `SystemExit(1)` on
        failure; the last ERROR log line is the reason."""
        if log is None:
            log = init_logger()
        self._sigquit_received = False
        self._input_end = InputEnd()
        self._install_sigquit(log)

        failures: list[BaseException] = []
        exited: list[Callable[..., Any]] = []
        try:
            entered: list[Callable[..., Any]] = []
            for base in type(self).__bases__:
                enter = getattr(base, "_mixin_enter", None)
                if enter is None or enter in entered or getattr(enter, "__isabstractmethod__", False):
                    continue
                await enter(self, log)
                entered.append(enter)
                exited.insert(0, getattr(base, "_mixin_exit"))  # noqa: B009

            async with asyncio.TaskGroup() as group:
                async for request in requests(self.request_class()):
                    if self._handle_concurrently(request):
                        group.create_task(self.handle(log, request))
                    else:
                        await self.handle(log, request)
                self.input_end.close()
        except (Exception, BaseExceptionGroup) as exc:
            failures = _flatten(exc)
        except asyncio.CancelledError:
            if not self._sigquit_received:
                raise
            # SIGQUIT cancelled every task, this one included: end with the reason as the last
            # ERROR line (and exit 1), not with a bare CancelledError traceback.
            current = asyncio.current_task()
            if current is not None:
                current.uncancel()
            failures = [ConnectorError("stopped by SIGQUIT: every task was cancelled (stacks logged above)")]
        finally:
            for mixin_exit in exited:
                try:
                    await mixin_exit(self, log)
                except Exception as close_exc:
                    log.warning(f"error while closing: {format_error_message(close_exc)}", exc_info=close_exc)
            for hook in (self.exit(log), self._drain_output()):
                try:
                    await hook
                except Exception as hook_exc:
                    # E.g. the runtime closed our stdout: report it like any other failure
                    # (once), rather than let it escape as a bare traceback.
                    if not any(str(hook_exc) in str(getattr(f, "error", None) or f) for f in failures):
                        failures.append(hook_exc)

        failed = False
        for err in failures:
            if isinstance(err, Stopped):
                if err.error is not None:
                    log.error(err.error)
                    failed = True
            elif isinstance(err, ValidationError | ConnectorError):
                log.error(str(err))
                failed = True
            elif isinstance(err, asyncio.CancelledError):
                continue
            else:
                log.error(f"{type(err).__name__}: {format_error_message(err)}", exc_info=err)
                failed = True
        if failed:
            raise SystemExit(1)

    def _install_sigquit(self, log: FlowLogger) -> None:
        """On SIGQUIT, log the stack of every asyncio task and cancel them all, so the process
        ends with exit 1 (debugging a stuck connector)."""
        if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "SIGQUIT"):
            return
        loop = asyncio.get_running_loop()

        def dump() -> None:
            self._sigquit_received = True
            for info in get_running_tasks_info():
                log.error(
                    "SIGQUIT: cancelling task",
                    {
                        "task_name": info.task_name,
                        "coro_name": info.coro_name,
                        "stack_trace": info.stack_trace,
                    },
                )
                info.task.cancel("SIGQUIT")

        try:
            loop.add_signal_handler(signal.SIGQUIT, dump)
        except (NotImplementedError, RuntimeError, ValueError):
            pass
