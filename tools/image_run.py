"""Start a connector image's own entrypoint the way Flow does, and talk JSON lines to it.

Flow's runtime starts an image with `docker run`, and connector-init inside it spawns the
image's `Config.Entrypoint` (else `Config.Cmd`), read from the image's inspection, once per
RPC: as the image's user, in its working directory, with its environment plus `LOG_FORMAT=json`
and `LOG_LEVEL`, requests on stdin and responses on stdout as JSON lines (the image says
`FLOW_RUNTIME_CODEC=json`), logs on stderr. This does the same with buildah: a fresh working
container of the image per process (`buildah from`), the entrypoint run in it with chroot
isolation (`buildah run`, which applies the image's user, working directory and environment),
the container removed afterwards. Without network, the process gets a network namespace of its
own with no interface up (`unshare --net`); with it, it shares this machine's network, so a
fake API on 127.0.0.1 is reachable.

buildah is what runs images here: `podman run` and `docker run` need an OCI runtime with
cgroups and rlimits that these machines do not allow, while chroot isolation needs neither.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from container_engine import Engine, EngineError, ImageInfo

FLOW_ENV = {"LOG_FORMAT": "json", "LOG_LEVEL": "warn"}  # what Flow sets for containers
INTERNAL_SPEC = {"spec": {"connectorType": "IMAGE", "config": {}}}  # connector-init's first request


class ImageRunError(Exception):
    """The image could not be started, or its process misbehaved; the message says how."""


@dataclass
class Session:
    """One process's conversation: every response line, stderr, exit status and timings."""

    responses: list[dict[str, Any]] = field(default_factory=list)
    stderr: str = ""
    returncode: int | None = None
    after_stop: int = 0  # response lines that arrived after `until` ended the conversation
    ended_by: str = "exit"  # or "sigterm": still running after its input closed, stopped as Flow stops it
    started_s: float = 0.0  # creating the working container
    first_response_s: float | None = None  # from starting the process to its first response line
    total_s: float = 0.0

    def one(self, kind: str) -> dict[str, Any]:
        """The single response of `kind` (e.g. 'discovered'), or a clear error with stderr."""
        found = [r[kind] for r in self.responses if kind in r]
        if len(found) != 1:
            raise ImageRunError(
                f"expected exactly one '{kind}' response, got {len(found)} "
                f"(exit {self.returncode}); responses: {[list(r) for r in self.responses]}; "
                f"stderr: {self.stderr[-2000:]}"
            )
        return found[0]


def require_buildah() -> Engine:
    if shutil.which("buildah") is None:
        raise ImageRunError("buildah is not installed (Debian: apt-get install buildah); it runs the images")
    return Engine("buildah")


@contextmanager
def working_container(image: str) -> Iterator[str]:
    """A fresh container of `image` (as `docker run --rm` makes one), removed afterwards."""
    buildah = require_buildah()
    name = buildah.command("from", "--pull=false", image, timeout=300).stdout.strip().splitlines()[-1]
    try:
        yield name
    finally:
        buildah.command("rm", name, check=False, timeout=120)


def program(info: ImageInfo) -> list[str]:
    """What connector-init spawns: the entrypoint, else the command."""
    argv = info.entrypoint or info.cmd
    if not argv:
        raise ImageRunError(
            "the image has neither an ENTRYPOINT nor a CMD: connector-init could not start it"
        )
    return argv


def run_argv(container: str, argv: list[str], network: bool, env: dict[str, str]) -> list[str]:
    isolation = os.environ.get("BUILDAH_ISOLATION", "chroot")
    command = ["buildah", "run", "--isolation", isolation]
    for key, value in env.items():
        command += ["--env", f"{key}={value}"]
    command += [container, "--", *argv]
    if not network:
        if shutil.which("unshare") is None:
            raise ImageRunError("unshare (util-linux) is needed to run an image without network")
        command = ["unshare", "--net", *command]
    return command


def converse(
    image: str,
    info: ImageInfo,
    requests: list[dict[str, Any]],
    *,
    network: bool = False,
    until: Callable[[list[dict[str, Any]]], list[dict[str, Any]] | None] | None = None,
    timeout: float = 120,
    env: dict[str, str] | None = None,
    argv: list[str] | None = None,
    stop_grace: float = 3.0,
) -> Session:
    """Start the image's program, send `requests` (connector-init's internal Spec first), and
    read responses. Without `until`, stdin is closed after the requests (a unary RPC) and every
    response is read to EOF. With `until`, stdin stays open: after each response `until(all
    responses so far)` may return more requests to send (acknowledgements) or [] to send none,
    and None once the conversation has what it needs; then stdin is closed and the process must
    exit or be stopped: a capture without explicit acknowledgements keeps running after its input
    closes (the runtime stops its container), so after `stop_grace` seconds it gets SIGTERM, as
    `docker stop` sends (`Session.ended_by` says which). Past `timeout` the process is killed and
    ImageRunError says what arrived."""
    session = Session()
    started = time.monotonic()
    with working_container(image) as container:
        session.started_s = time.monotonic() - started
        command = run_argv(container, argv or program(info), network, {**FLOW_ENV, **(env or {})})
        launched = time.monotonic()
        proc = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        lines: queue.Queue[str | None] = queue.Queue()
        errors: list[str] = []
        readers = [
            threading.Thread(target=_pump, args=(proc.stdout, lines.put, True), daemon=True),
            threading.Thread(target=_pump, args=(proc.stderr, errors.append, False), daemon=True),
        ]
        for reader in readers:
            reader.start()
        try:
            for request in [INTERNAL_SPEC, *requests]:
                proc.stdin.write(json.dumps(request) + "\n")
            proc.stdin.flush()
            if until is None:
                proc.stdin.close()
            deadline = launched + timeout
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise ImageRunError(f"no end within {timeout:g}s")
                try:
                    line = lines.get(timeout=remaining)
                except queue.Empty:
                    continue
                if line is None:
                    break
                if session.first_response_s is None:
                    session.first_response_s = time.monotonic() - launched
                try:
                    session.responses.append(json.loads(line))
                except ValueError:
                    raise ImageRunError(f'could not parse "{line[:500]}" into a JSON response') from None
                if until is not None:
                    more = until(session.responses)
                    if more is None:
                        proc.stdin.close()
                        break
                    for request in more:
                        proc.stdin.write(json.dumps(request) + "\n")
                    proc.stdin.flush()
            session.returncode = _wait_or_stop(proc, session, stop_grace if until else None, deadline)
        except (ImageRunError, subprocess.TimeoutExpired, BrokenPipeError) as exc:
            _kill(proc)
            for reader in readers:
                reader.join(timeout=5)
            raise ImageRunError(
                f"{image}: {exc}; responses so far: {[list(r) for r in session.responses]}; "
                f"stderr: {''.join(errors)[-2000:]}"
            ) from None
        for reader in readers:
            reader.join(timeout=5)
        while (line := lines.get_nowait() if not lines.empty() else None) is not None:
            session.after_stop += 1
        session.stderr = "".join(errors)
        session.total_s = time.monotonic() - started
    return session


def _wait_or_stop(proc: subprocess.Popen[str], session: Session, grace: float | None, deadline: float) -> int:
    """The exit status; with a `grace`, a process still running after it gets SIGTERM."""
    if grace is not None:
        try:
            return proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            session.ended_by = "sigterm"
            os.killpg(proc.pid, signal.SIGTERM)
    return proc.wait(timeout=max(1.0, deadline - time.monotonic()))


def _pump(stream: Any, put: Callable[[Any], None], mark_end: bool) -> None:
    """Hand every line of `stream` to `put`, then None when `mark_end` (the reader's EOF)."""
    for line in stream:
        put(line)
    if mark_end:
        put(None)


def _kill(proc: subprocess.Popen[str]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=30)


@contextmanager
def serving(image: str, argv: list[str], ready_timeout: float = 60) -> Iterator[str]:
    """Run `argv` (a service, e.g. a fake API) in a fresh container of `image` on this machine's
    network, in the background; yields the first line it prints (its address) and stops it."""
    with working_container(image) as container:
        proc = subprocess.Popen(
            run_argv(container, argv, True, {}),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        assert proc.stdout is not None and proc.stderr is not None
        lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=_pump, args=(proc.stdout, lines.put, True), daemon=True).start()
        try:
            try:
                first = lines.get(timeout=ready_timeout)
            except queue.Empty:
                first = None
            if first is None:
                _kill(proc)
                raise ImageRunError(
                    f"{image}: `{' '.join(argv)}` printed no address within {ready_timeout:g}s "
                    f"(exit {proc.poll()}): {proc.stderr.read()[-2000:]}"
                )
            yield first.strip()
        finally:
            _kill(proc)


def run_command(image: str, argv: list[str], network: bool = False, timeout: float = 120) -> str:
    """Run `argv` in a fresh container of `image` as the image's user; its stdout."""
    with working_container(image) as container:
        proc = subprocess.run(
            run_argv(container, argv, network, {}), capture_output=True, text=True, timeout=timeout
        )
    if proc.returncode != 0:
        raise ImageRunError(f"{image}: `{' '.join(argv)}` exited {proc.returncode}: {proc.stderr[-2000:]}")
    return proc.stdout


__all__ = ["EngineError", "ImageRunError", "Session", "converse", "run_command", "serving"]
