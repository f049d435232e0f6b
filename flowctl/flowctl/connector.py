"""Running connector processes (flow-protocol §1): one fresh process per RPC, JSON-lines codec,
stderr decoded as logs, ended as the runtime ends them. How a process is started (a local
command, or an image through its container engine) is launcher.py's job."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import signal
from collections.abc import Callable
from typing import Any

import orjson

from . import lifetime
from .errors import ConnectorError, ConnectorKilledError, ProtocolError
from .launcher import Launch, launch_for, spawn
from .logs import LogDecoder, OpsLog

__all__ = ["PROTOCOL_VERSION", "ConnectorProcess", "Launch", "launch_for", "spec_handshake", "unary"]

PROTOCOL_VERSION = 3032023
_READ_CHUNK = 1 << 20
# asyncio buffers up to twice this much of a pipe before it stops reading from it: keep it small
# so that back-pressure (a paused reader) reaches the connector instead of piling up here.
_PIPE_BUFFER_LIMIT = 1 << 22
_TERMINATE_GRACE_SECONDS = 5.0
# How long a container guard may take to kill and remove its container.
_GUARD_CLEANUP_SECONDS = 30.0


def _grow_pipe(proc: asyncio.subprocess.Process) -> None:
    """Best effort: a 1 MiB stdout pipe (Linux) means fewer, larger reads of a busy connector."""
    with contextlib.suppress(Exception):
        transport = proc._transport  # type: ignore[attr-defined]
        pipe = transport.get_pipe_transport(1).get_extra_info("pipe")
        fcntl.fcntl(pipe.fileno(), fcntl.F_SETPIPE_SZ, _READ_CHUNK)


class ConnectorProcess:
    """One running connector process (for an image: its container guard)."""

    def __init__(
        self,
        proc: asyncio.subprocess.Process,
        on_log: Callable[[OpsLog], None],
        name: str,
        guarded: bool = False,
    ) -> None:
        self._proc = proc
        self.name = name
        self.guarded = guarded
        self.logs = LogDecoder(on_log)
        self._pending: list[bytes] = []  # an incomplete last line
        self._unread: list[bytes] = []  # complete lines read ahead by read_message
        self._ended_by_us = False  # flowctl signalled it (a stop, not a failure)
        self._stderr_task = asyncio.create_task(self._pump_stderr())
        lifetime.started(self)

    @classmethod
    async def start(cls, launch: Launch, on_log: Callable[[OpsLog], None]) -> ConnectorProcess:
        try:
            proc = await spawn(launch, _PIPE_BUFFER_LIMIT)
        except OSError as err:
            raise ConnectorError(f"could not start connector `{launch.description}`: {err}") from None
        _grow_pipe(proc)
        return cls(proc, on_log, launch.description, launch.guarded)

    async def _pump_stderr(self) -> None:
        stream = self._proc.stderr
        assert stream is not None
        partial = b""
        while True:
            data = await stream.read(_READ_CHUNK)
            if not data:
                break
            *lines, partial = (partial + data).split(b"\n")
            for line in lines:
                self.logs.feed(line.decode(errors="replace"))
        if partial.strip():
            self.logs.feed(partial.decode(errors="replace"))
        self.logs.flush()

    @property
    def last_log(self) -> str | None:
        """The last log message: what the runtime reports when a connector fails."""
        return self.logs.last.message if self.logs.last else None

    @property
    def last_error(self) -> str | None:
        """The last error-level log message, else the last message: shown with protocol errors.
        Of a connector killed by a signal, only an error-level message: what it happened to log
        last before the kill (e.g. `resuming incremental replication`) is no cause."""
        if self.killed_by is not None:
            return self.logs.last_error.message if self.logs.last_error else None
        log = self.logs.last_error or self.logs.last
        return log.message if log else None

    @property
    def killed_by(self) -> int | None:
        """The signal that ended the process, if one did and flowctl did not send it."""
        code = self._proc.returncode
        return -code if code is not None and code < 0 and not self._ended_by_us else None

    async def send(self, message: dict[str, Any]) -> None:
        """Write one request line. A connector that stopped reading is not an error here (the
        runtime only logs a broken stdin pipe); its exit status tells what happened."""
        stdin = self._proc.stdin
        assert stdin is not None
        if stdin.is_closing():
            return
        try:
            stdin.write(orjson.dumps(message) + b"\n")
            await stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            pass

    async def send_many(self, messages: list[dict[str, Any]]) -> None:
        """Write request lines in one write (a transaction's loads and stores come in batches)."""
        stdin = self._proc.stdin
        assert stdin is not None
        if stdin.is_closing() or not messages:
            return
        try:
            stdin.write(b"".join(orjson.dumps(m, option=orjson.OPT_APPEND_NEWLINE) for m in messages))
            await stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            pass

    def close_stdin(self) -> None:
        stdin = self._proc.stdin
        if stdin is not None and not stdin.is_closing():
            stdin.close()

    async def read_lines(self) -> list[bytes] | None:
        """The next complete lines of stdout (at least one), or None at EOF. Raises when the
        output ends in the middle of a line."""
        if self._unread:
            lines, self._unread = self._unread, []
            return lines
        stdout = self._proc.stdout
        assert stdout is not None
        while True:
            data = await stdout.read(_READ_CHUNK)
            if not data:
                rest = b"".join(self._pending)
                self._pending = []
                if rest.strip():
                    raise ProtocolError("connector wrote a partial message and then closed its output")
                return None
            if b"\n" not in data:
                self._pending.append(data)
                continue
            if self._pending:
                self._pending.append(data)
                data = b"".join(self._pending)
                self._pending = []
            lines = data.split(b"\n")
            tail = lines.pop()
            if tail:
                self._pending.append(tail)
            return lines

    async def read_message(self, expected: str) -> dict[str, Any] | None:
        """One decoded message (skipping blank lines); None at EOF. Extra lines read with it are
        kept for the next call."""
        while True:
            lines = await self.read_lines()
            if lines is None:
                return None
            for i, line in enumerate(lines):
                if line.strip():
                    self._unread = lines[i + 1 :]
                    return decode_message(line, expected)

    async def wait(self) -> int:
        """Exit code (-N: killed by signal N), after stderr has been fully decoded."""
        code = await self._proc.wait()
        lifetime.ended(self)
        with contextlib.suppress(Exception):
            await self._stderr_task
        return code

    def _signal(self, sig: signal.Signals) -> None:
        """Signal the process group: the connector and whatever it started (a guard is alone in
        its group: it signals its container itself)."""
        if self._proc.returncode is None:
            self._ended_by_us = True
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self._proc.pid, sig)

    async def stop(self) -> None:
        """End the process as the runtime stops a session: stdin closed, SIGTERM, and after a
        grace period SIGKILL (a guard: SIGQUIT, so that it still removes its container)."""
        self.close_stdin()
        if self._proc.returncode is None:
            self._signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self._proc.wait(), _TERMINATE_GRACE_SECONDS)
            except TimeoutError:
                self.kill_now()
                if self.guarded:
                    try:
                        await asyncio.wait_for(self._proc.wait(), _GUARD_CLEANUP_SECONDS)
                    except TimeoutError:
                        self._signal(signal.SIGKILL)  # a stuck guard: its container may remain
        await self.wait()

    def kill_now(self) -> None:
        """Kill the connector at once (a guard kills its container, then removes it)."""
        self._signal(signal.SIGQUIT if self.guarded else signal.SIGKILL)

    async def ended(self, expected: str) -> ConnectorError:
        """The error for output that ended where `expected` was due: the connector's failure when
        it exited non-zero, else the runtime's EOF protocol error."""
        code = await self.wait()
        if code != 0:
            return self.failure(code)
        return ProtocolError(f"unexpected connector EOF (expected {expected})")

    def failure(self, code: int) -> ConnectorError:
        """The error for a non-zero exit: the runtime's text with the last log message; for a
        connector killed by a signal, the signal and its last error-level line, if any."""
        if code < 0:
            sig = -code
            try:
                name = signal.Signals(sig).name
            except ValueError:
                name = f"signal {sig}"
            last_error = self.logs.last_error.message if self.logs.last_error else None
            said = f"; its last error line: {last_error}" if last_error else "; it logged no error"
            return ConnectorKilledError(
                f"connector was killed by signal {sig} ({name}){said}", sig, last_error
            )
        last = self.last_log
        text = last if last else "connector exited with no log output"
        return ConnectorError(f"connector failed (exit status {code}): {text}", last)


def decode_message(line: bytes, expected: str) -> dict[str, Any]:
    """Parse one stdout line into a response envelope."""
    try:
        msg = orjson.loads(line)
    except orjson.JSONDecodeError:
        msg = _decode_slow(line)
    if not isinstance(msg, dict):
        raise ProtocolError(f"connector protocol error (expected {expected}): {_clip(line)}")
    return msg


def _decode_slow(line: bytes) -> Any:
    """Stdlib fallback for what orjson refuses but JSON allows (integers beyond 64 bits)."""
    import json

    try:
        return json.loads(line)
    except ValueError:
        raise ProtocolError(f'could not parse "{_clip(line)}" into JSON response') from None


def _clip(line: bytes, limit: int = 1000) -> str:
    text = line.decode(errors="replace")
    return text if len(text) <= limit else text[:limit] + "…"


async def spec_handshake(
    proc: ConnectorProcess, launch: Launch, config: dict[str, Any] | None = None, close_stdin: bool = False
) -> dict[str, Any]:
    """The internal Spec RPC that starts every connector process: send it (then close stdin when
    it is the only request), read one response and check it. Returns the spec."""
    await proc.send({"spec": {"connectorType": launch.connector_type, "config": config or {}}})
    if close_stdin:
        proc.close_stdin()
    first = await proc.read_message("Spec")
    if first is None:
        raise await proc.ended("Spec")
    return check_spec(first)


def check_spec(response: dict[str, Any]) -> dict[str, Any]:
    spec = response.get("spec")
    if not isinstance(spec, dict):
        raise ProtocolError(f"connector protocol error (expected Spec): {orjson.dumps(response).decode()}")
    if spec.get("protocol") != PROTOCOL_VERSION:
        raise ProtocolError(
            f"connector returned an unexpected protocol version {spec.get('protocol')} (expected {PROTOCOL_VERSION})"
        )
    return spec


async def unary(
    launch: Launch,
    request: dict[str, Any] | None,
    expect: str,
    on_log: Callable[[OpsLog], None],
    spec_config: dict[str, Any] | None = None,
    check: Callable[[dict[str, Any]], None] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """One unary RPC in a fresh process: the internal Spec first (its response is returned too),
    then `request` (unless None: the Spec RPC itself), stdin closed, exactly one response, EOF,
    exit 0. `check` sees the spec before `request` is sent; when it raises, the connector never
    receives the request."""
    proc = await ConnectorProcess.start(launch, on_log)
    try:
        spec = await spec_handshake(proc, launch, spec_config, close_stdin=request is None)
        if check is not None:
            check(spec)
        if request is None:
            response = {"spec": spec}
        else:
            await proc.send(request)
            proc.close_stdin()
            msg = await proc.read_message(expect.capitalize())
            if msg is None:
                raise await proc.ended(expect.capitalize())
            if expect not in msg:
                code = await proc.wait()
                if code != 0:
                    raise proc.failure(code)
                raise ProtocolError(
                    f"connector protocol error (expected {expect.capitalize()}): {orjson.dumps(msg).decode()}"
                )
            response = msg
        extra = await proc.read_message("EOF")
        code = await proc.wait()
        if code != 0:
            raise proc.failure(code)
        if extra is not None:
            raise ProtocolError(f"connector protocol error (expected EOF): {orjson.dumps(extra).decode()}")
        return spec, response
    except ConnectorError as err:
        await proc.stop()  # then every log line the connector wrote has been read
        err.last_log = proc.last_error or err.last_log
        raise
    finally:
        await proc.stop()
