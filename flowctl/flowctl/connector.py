"""Running connector processes (flow-protocol §1): one fresh process per RPC, JSON-lines codec,
stderr decoded as logs. Local commands run directly; images run with `docker run -i --rm`."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from .catalog import Task
from .errors import ConnectorError, DockerUnavailableError, ProtocolError
from .logs import LogDecoder, OpsLog

PROTOCOL_VERSION = 3032023
_READ_CHUNK = 1 << 20
# asyncio buffers up to twice this much of a pipe before it stops reading from it: keep it small
# so that back-pressure (a paused reader) reaches the connector instead of piling up here.
_PIPE_BUFFER_LIMIT = 1 << 22
_TERMINATE_GRACE_SECONDS = 5.0


@dataclass
class Launch:
    """How to start the connector of a task (a capture or a materialization)."""

    argv: list[str]
    env: dict[str, str]
    cwd: str
    connector_type: str  # "LOCAL" or "IMAGE"
    description: str = ""


async def _docker_available() -> tuple[bool, str]:
    docker = shutil.which("docker")
    if docker is None:
        return False, "the `docker` command is not installed"
    try:
        proc = await asyncio.create_subprocess_exec(
            docker,
            "version",
            "--format",
            "{{.Server.Version}}",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), timeout=20)
    except (OSError, TimeoutError) as exc:
        return False, str(exc) or "`docker version` timed out"
    if proc.returncode != 0:
        return False, err.decode(errors="replace").strip() or out.decode(errors="replace").strip()
    return True, out.decode().strip()


async def _docker_json(*args: str) -> Any:
    proc = await asyncio.create_subprocess_exec(
        "docker", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await proc.communicate()
    if proc.returncode != 0:
        raise ConnectorError(f"`docker {' '.join(args)}` failed: {err.decode(errors='replace').strip()}")
    return orjson.loads(out) if out.strip() else None


async def launch_for(task: Task, network: str | None = None) -> Launch:
    """Launch parameters for `task`'s endpoint; checks Docker for image connectors."""
    level = task.log_level
    cwd = str(Path(task.file).parent)
    ep = task.endpoint
    if ep.kind == "local":
        env = dict(os.environ)
        env["LOG_FORMAT"] = "json"
        env.update(ep.env)
        env["LOG_LEVEL"] = level
        return Launch(list(ep.command), env, cwd, "LOCAL", description=" ".join(ep.command))
    ok, detail = await _docker_available()
    if not ok:
        raise DockerUnavailableError(
            f"{task.kind} {task.name!r} uses the image connector {ep.image!r}, which needs a running Docker engine, "
            f"but none answers ({detail}). Start Docker, or use an `endpoint.local` command instead."
        )
    if not ep.image.endswith(":local"):
        proc = await asyncio.create_subprocess_exec(
            "docker", "pull", "--quiet", ep.image, stdout=asyncio.subprocess.DEVNULL
        )
        await proc.wait()
    inspect = await _docker_json("inspect", ep.image)
    config = (inspect[0] if inspect else {}).get("Config") or {}
    labels = config.get("Labels") or {}
    env_list = config.get("Env") or []
    if "FLOW_RUNTIME_PROTOCOL" not in labels:
        raise ConnectorError(f"{ep.image}: image is missing required 'FLOW_RUNTIME_PROTOCOL' label")
    protocol = "materialize" if task.kind == "materialization" else "capture"
    if labels["FLOW_RUNTIME_PROTOCOL"] != protocol:
        raise ConnectorError(
            f"{ep.image}: the image is a {labels['FLOW_RUNTIME_PROTOCOL']!r} connector "
            f"(FLOW_RUNTIME_PROTOCOL), but {task.kind} {task.name!r} needs a {protocol!r} one"
        )
    codec = labels.get("FLOW_RUNTIME_CODEC") or next(
        (e.split("=", 1)[1] for e in env_list if e.startswith("FLOW_RUNTIME_CODEC=")), ""
    )
    if codec != "json":
        raise ConnectorError(
            f"{ep.image}: the image speaks the protobuf codec (no FLOW_RUNTIME_CODEC=json label or env); "
            "flowctl drives JSON-lines connectors only"
        )
    argv = [
        "docker",
        "run",
        "-i",
        "--rm",
        f"--network={network or 'bridge'}",
        "--env=LOG_FORMAT=json",
        f"--env=LOG_LEVEL={level}",
        ep.image,
    ]
    return Launch(argv, dict(os.environ), cwd, "IMAGE", description=ep.image)


def _grow_pipe(proc: asyncio.subprocess.Process) -> None:
    """Best effort: a 1 MiB stdout pipe (Linux) means fewer, larger reads of a busy connector."""
    with contextlib.suppress(Exception):
        transport = proc._transport  # type: ignore[attr-defined]
        pipe = transport.get_pipe_transport(1).get_extra_info("pipe")
        fcntl.fcntl(pipe.fileno(), fcntl.F_SETPIPE_SZ, _READ_CHUNK)


class ConnectorProcess:
    """One running connector process."""

    def __init__(self, proc: asyncio.subprocess.Process, on_log: Callable[[OpsLog], None], name: str) -> None:
        self._proc = proc
        self.name = name
        self.logs = LogDecoder(on_log)
        self._pending: list[bytes] = []  # an incomplete last line
        self._unread: list[bytes] = []  # complete lines read ahead by read_message
        self._stderr_task = asyncio.create_task(self._pump_stderr())

    @classmethod
    async def start(cls, launch: Launch, on_log: Callable[[OpsLog], None]) -> ConnectorProcess:
        try:
            proc = await asyncio.create_subprocess_exec(
                *launch.argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=launch.env,
                cwd=launch.cwd,
                limit=_PIPE_BUFFER_LIMIT,
                start_new_session=True,
            )
        except OSError as err:
            raise ConnectorError(f"could not start connector `{launch.description}`: {err}") from None
        _grow_pipe(proc)
        return cls(proc, on_log, launch.description)

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
        """The last error-level log message, else the last message: shown with protocol errors."""
        log = self.logs.last_error or self.logs.last
        return log.message if log else None

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
        """Exit code, after stderr has been fully decoded."""
        code = await self._proc.wait()
        with contextlib.suppress(Exception):
            await self._stderr_task
        return code

    async def stop(self) -> None:
        """End the process (the runtime stops sessions by terminating the connector)."""
        self.close_stdin()
        if self._proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._proc.pid, 15)
            try:
                await asyncio.wait_for(self._proc.wait(), _TERMINATE_GRACE_SECONDS)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self._proc.pid, 9)
        await self.wait()

    async def ended(self, expected: str) -> ConnectorError:
        """The error for output that ended where `expected` was due: the connector's failure when
        it exited non-zero, else the runtime's EOF protocol error."""
        code = await self.wait()
        if code != 0:
            return self.failure(code)
        return ProtocolError(f"unexpected connector EOF (expected {expected})")

    def failure(self, code: int) -> ConnectorError:
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
