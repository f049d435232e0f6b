"""One image connector process in a container of its own, and no container left afterwards.

flowctl starts `python -m flowctl.container_guard SPEC` for each RPC of an image connector (SPEC:
images.guard_spec, the engine commands with `{container}` where a fresh container name goes).
The guard creates the container when the engine needs that step (buildah), runs the connector's
process with flowctl's stdin and stdout, and removes the container however the process ended:
normally, killed, or because flowctl itself went away. flowctl's pipes cannot do that last part
(a SIGKILLed flowctl runs no cleanup), and neither can the engine alone (killing `docker run` or
`buildah run` leaves its container, and `buildah run` killed with SIGKILL leaves even the
connector running).

Signals, from flowctl or the kernel:
* SIGTERM, SIGINT, SIGHUP: stop as the runtime stops a connector: SIGTERM to the container's
  process group (the connector gets it; `docker run` forwards it), SIGKILL if it is still
  running after GRACE_SECONDS. flowctl's death sends SIGTERM too (PR_SET_PDEATHSIG).
* SIGQUIT: kill at once (flowctl's second signal).

The exit status is the connector's: a connector killed by signal N makes the guard end by
signal N as well, so flowctl says so. `buildah run` reports its program's end on stderr
("subprocess exited on killed", "Error: exit status 1") and exits 1; those trailing lines are
read here instead of reaching flowctl's log decoder, where they would pose as the connector's
last words. Docker and podman report a killed container as exit 128+N.

Only the standard library and parent_death are imported: this starts once per connector process.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import Any, BinaryIO, NoReturn

from flowctl.parent_death import preexec

CONTAINER = "{container}"  # images.CONTAINER (not imported: images pulls in asyncio)
GRACE_SECONDS = 5.0
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
_STATUS = re.compile(rb"^subprocess exited with status (\d+)$")
_SIGNALLED = re.compile(rb"^subprocess exited on (.+)$")
_ERROR_STATUS = re.compile(rb"^Error: exit status \d+$")


def log(level: str, message: str, **fields: Any) -> None:
    """A log line flowctl decodes like the connector's own."""
    line = json.dumps(
        {"level": level, "message": message, "fields": {"source": "flowctl container guard", **fields}}
    )
    try:
        os.write(2, line.encode() + b"\n")
    except OSError:
        pass


def signal_named(description: str) -> int | None:
    """The signal Go (buildah) describes as e.g. `killed` or `terminated` (strsignal's words)."""
    wanted = description.strip().lower()
    for sig in signal.Signals:
        text = signal.strsignal(sig)
        if text is not None and text.lower() == wanted:
            return int(sig)
    return None


class BuildahStatus:
    """Relays `buildah run`'s stderr, holding back its own trailing report of the program's end,
    and reads the program's exit from it."""

    def __init__(self, out: Callable[[bytes], None]) -> None:
        self._out = out
        self._held: list[bytes] = []
        self._partial = b""
        self.exit_status: int | None = None
        self.signal: int | None = None

    def feed(self, data: bytes) -> None:
        *lines, self._partial = (self._partial + data).split(b"\n")
        for line in lines:
            if _STATUS.match(line) or _SIGNALLED.match(line) or _ERROR_STATUS.match(line):
                self._held.append(line)
                continue
            if self._held:  # not a trailer after all: the connector wrote it
                self._out(b"".join(h + b"\n" for h in self._held))
                self._held = []
            self._out(line + b"\n")

    def finish(self) -> None:
        if self._partial:
            self.feed(b"\n")
        for line in self._held:
            if m := _STATUS.match(line):
                self.exit_status = int(m.group(1))
            elif m := _SIGNALLED.match(line):
                self.signal = signal_named(m.group(1).decode(errors="replace"))
        self._held = []


def _write_stderr(data: bytes) -> None:
    try:
        os.write(2, data)
    except OSError:
        pass  # flowctl is gone: keep draining, so the connector never blocks on a full pipe


def _relay(stream: BinaryIO, status: BuildahStatus) -> None:
    while chunk := os.read(stream.fileno(), 1 << 16):
        status.feed(chunk)
    status.finish()


class Guard:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.name = f"flowctl-{secrets.token_hex(6)}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.stopping = False
        self.killing = False

    def argv(self, key: str) -> list[str]:
        return [self.name if arg == CONTAINER else arg for arg in self.spec[key]]

    # --- signals -------------------------------------------------------------------------------
    def install(self) -> None:
        for sig in STOP_SIGNALS:
            signal.signal(sig, self._on_stop)
        signal.signal(signal.SIGQUIT, self._on_kill)
        signal.signal(signal.SIGALRM, self._on_kill)

    def _on_stop(self, signum: int, frame: object) -> None:
        if self.stopping:
            return
        self.stopping = True
        self._signal(signal.SIGTERM)
        signal.setitimer(signal.ITIMER_REAL, GRACE_SECONDS)

    def _on_kill(self, signum: int, frame: object) -> None:
        self.stopping = self.killing = True
        self._signal(signal.SIGKILL)

    def _signal(self, sig: int) -> None:
        if self.proc is not None and self.proc.returncode is None:
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                pass

    # --- the container -------------------------------------------------------------------------
    def create(self) -> bool:
        create = self.spec.get("create")
        if not create:
            return True
        proc = subprocess.run(self.argv("create"), stdin=subprocess.DEVNULL, capture_output=True, check=False)
        if proc.returncode != 0:
            text = proc.stderr.decode(errors="replace").strip()
            log(
                "error",
                f"could not create a container: `{' '.join(self.argv('create'))}` failed: {text[-2000:]}",
            )
            return False
        return True

    def run(self) -> tuple[int | None, int | None]:
        """Run the connector's process; its (exit status, signal)."""
        buildah = self.spec["engine"] == "buildah"
        self.proc = subprocess.Popen(
            self.argv("run"),
            stderr=subprocess.PIPE if buildah else None,
            start_new_session=True,  # one process group to signal: the engine and the connector
            preexec_fn=preexec(signal.SIGTERM),
        )
        if self.stopping:  # a signal came while it started
            self._signal(signal.SIGKILL if self.killing else signal.SIGTERM)
        # The protocol's pipes are the connector's now: flowctl sees their end when it ends.
        devnull = os.open(os.devnull, os.O_RDWR)
        os.dup2(devnull, 0)
        os.dup2(devnull, 1)
        os.close(devnull)
        relay = None
        status = BuildahStatus(_write_stderr)
        if buildah:
            assert self.proc.stderr is not None
            relay = threading.Thread(target=_relay, args=(self.proc.stderr, status), daemon=True)
            relay.start()
        code = self.proc.wait()
        if relay is not None:
            relay.join(timeout=10)
        if code < 0:
            return None, -code
        if buildah and status.signal is not None:
            return None, status.signal
        if buildah and status.exit_status is not None:
            return status.exit_status, None
        if not buildah and 128 < code <= 128 + 64:
            return None, code - 128
        return code, None

    def remove(self, killed: bool) -> None:
        if not (self.spec.get("remove_always") or killed or self.killing):
            return
        signal.setitimer(signal.ITIMER_REAL, 0)
        for sig in (*STOP_SIGNALS, signal.SIGQUIT):
            signal.signal(sig, signal.SIG_IGN)  # the cleanup itself must not be cut short
        proc = subprocess.run(self.argv("remove"), stdin=subprocess.DEVNULL, capture_output=True, check=False)
        if proc.returncode != 0 and self.spec.get("remove_always"):
            text = proc.stderr.decode(errors="replace").strip()
            log("warn", f"could not remove container {self.name}: {text[-1000:]}")


def _end(status: int | None, sig: int | None) -> NoReturn:
    if sig is not None:
        signal.setitimer(signal.ITIMER_REAL, 0)
        if sig not in (signal.SIGKILL, signal.SIGSTOP):  # those have no handler to reset
            signal.signal(sig, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, [sig])
        os.kill(os.getpid(), sig)
        status = 128 + sig  # a signal whose default is to be ignored
    sys.exit(status or 0)


def main(argv: list[str]) -> NoReturn:
    guard = Guard(json.loads(argv[1]))
    guard.install()
    if not guard.create():
        _end(1, None)
    status: int | None = None
    sig: int | None = signal.SIGTERM  # stopped before it ran
    try:
        if not guard.stopping:
            status, sig = guard.run()
        elif guard.killing:
            sig = signal.SIGKILL
    finally:
        guard.remove(killed=sig is not None)
    _end(status, sig)


if __name__ == "__main__":
    main(sys.argv)
