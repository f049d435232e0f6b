"""Estuary connector development kit: the process framework every connector runs in.

`BaseConnector.serve()` reads newline-delimited JSON requests from stdin (a pipe, a socket, a
terminal or a regular file), dispatches each to `handle()`, and owns the process outcome: it
returns normally on a clean end and raises `SystemExit(1)` on failure, after logging the reason
as the last ERROR line on stderr.
"""

from __future__ import annotations

import abc
import asyncio
import os
import signal
import sys
import threading
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import orjson
import pydantic
from pydantic import BaseModel

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

MAX_REQUEST_LINE = 1 << 27
"""Longest accepted request line (128 MiB, like the reference kit)."""

_READ_CHUNK = 1 << 16
_MAX_REPORTED_ERRORS = 5


class ConnectorError(Exception):
    """An error whose message is the complete, user-facing reason: it is logged as the last
    ERROR line without a traceback."""


class MalformedRequestError(ConnectorError):
    """A request line that is not valid JSON or not a valid request. The message is one line
    that says what was wrong and where."""


@dataclass
class Stopped(Exception):
    """Raised by a handler to end the process: cleanly when `error` is None, else with `error`
    as the failure reason."""

    error: str | None = None


def _describe_validation_error(exc: pydantic.ValidationError) -> str:
    parts: list[str] = []
    for err in exc.errors()[:_MAX_REPORTED_ERRORS]:
        loc = ".".join(str(p) for p in err.get("loc", ())) or "(root)"
        parts.append(f"{loc}: {err.get('msg', 'invalid')}")
    more = exc.error_count() - _MAX_REPORTED_ERRORS
    if more > 0:
        parts.append(f"and {more} more error(s)")
    return "; ".join(parts)


def parse_request_line(cls: type[Request], line: bytes, lineno: int) -> Request:
    """Parse one request line into `cls`, raising `MalformedRequestError` with a one-line
    description of what is wrong (instead of a pydantic traceback)."""
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise MalformedRequestError(f"malformed request on line {lineno}: invalid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise MalformedRequestError(
            f"malformed request on line {lineno}: expected a JSON object, got {type(value).__name__}"
        )
    try:
        request = cls.model_validate(value)
    except pydantic.ValidationError as exc:
        raise MalformedRequestError(
            f"malformed request on line {lineno}: {_describe_validation_error(exc)}"
        ) from None
    if all(getattr(request, name) is None for name in request.model_fields_set):
        expected = ", ".join(info.alias or name for name, info in cls.model_fields.items())
        got = ", ".join(sorted(value)) or "none"
        raise MalformedRequestError(
            f"malformed request on line {lineno}: expected one of the keys {expected}; got {got}"
        )
    return request


def _start_reader(fd: int, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[bytes | None]) -> None:
    """Read `fd` on a daemon thread. A thread (rather than `connect_read_pipe`) works for every
    kind of stdin, including a redirected regular file, and never keeps the process alive."""

    def post(item: bytes | None) -> bool:
        try:
            loop.call_soon_threadsafe(queue.put_nowait, item)
        except RuntimeError:
            return False  # The event loop is closed: nobody reads any more.
        return True

    def run() -> None:
        while True:
            try:
                chunk = os.read(fd, _READ_CHUNK)
            except OSError:
                chunk = b""
            if not post(chunk or None) or not chunk:
                return

    threading.Thread(target=run, name="flow-stdin-reader", daemon=True).start()


async def _read_lines(fd: int) -> AsyncGenerator[tuple[int, bytes], None]:
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[bytes | None] = asyncio.Queue()
    _start_reader(fd, loop, queue)
    pending = bytearray()
    lineno = 0
    eof = False
    while not eof:
        chunk = await queue.get()
        if chunk is None:
            eof = True
        else:
            pending += chunk
        start = 0
        while True:
            end = pending.find(b"\n", start)
            if end < 0:
                break
            lineno += 1
            line = bytes(pending[start:end])
            start = end + 1
            if line.strip():
                yield lineno, line
        del pending[:start]
        if len(pending) > MAX_REQUEST_LINE:
            raise MalformedRequestError(
                f"malformed request on line {lineno + 1}: longer than {MAX_REQUEST_LINE} bytes"
            )
    if pending.strip():
        yield lineno + 1, bytes(pending)


async def stdin_jsonl(cls: type[Request]) -> AsyncGenerator[Request, None]:
    """Yield every request line of stdin parsed as `cls`, until EOF. Blank lines are skipped."""
    fd = sys.stdin.fileno() if sys.stdin is not None else 0
    async for lineno, line in _read_lines(fd):
        yield parse_request_line(cls, line, lineno)


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
    _sigquit_received: bool = False

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

    async def _drain_output(self) -> None:
        """Wait until every response written so far reached the output (before exiting)."""

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
