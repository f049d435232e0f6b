"""A child process whose output the crash/resume harness reads line by line, and kills.

stdout is read on a thread into a queue, so the harness can wait with a timeout (a kill after
some seconds, an idle capture) and can stop reading (the writer then fills the pipe and blocks
mid-write). The process runs in its own session, so a kill reaches everything it started; the
processes it started in sessions of their own (flowctl's connectors) are found through /proc
and watched: one that outlives its killed parent is an orphan.
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from pathlib import Path

__all__ = ["EMPTY", "ChildProcess", "command_of", "still_alive"]

EMPTY = b""
"""`get` timed out (a line is never empty: it holds at least its newline)."""
_EOF = None
_STDERR_LINES = 40


class ChildProcess:
    """`argv` started with its stdout read line by line (`get`) and stderr's last lines kept."""

    def __init__(
        self, argv: Sequence[str], env: Mapping[str, str], cwd: str | Path | None, stdin: bool = False
    ) -> None:
        self.argv = list(argv)
        self.proc = subprocess.Popen(
            self.argv,
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=dict(env),
            cwd=cwd,
            start_new_session=True,
        )
        self.stderr: deque[str] = deque(maxlen=_STDERR_LINES)
        self._lines: queue.Queue[bytes | None] = queue.Queue()
        self._at_end = False
        self._reading = threading.Event()
        self._reading.set()
        self._threads = [
            threading.Thread(target=self._read_stdout, name="crash-stdout", daemon=True),
            threading.Thread(target=self._read_stderr, name="crash-stderr", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def _read_stdout(self) -> None:
        stream = self.proc.stdout
        assert stream is not None
        while True:
            self._reading.wait()
            line = stream.readline()
            if not line:
                self._lines.put(_EOF)
                return
            self._lines.put(line)

    def _read_stderr(self) -> None:
        stream = self.proc.stderr
        assert stream is not None
        for line in stream:
            self.stderr.append(line.decode(errors="replace").rstrip("\n"))

    # -- reading -------------------------------------------------------------------------------

    def get(self, timeout: float | None) -> bytes | None:
        """The next line (with its newline; without one when the output was cut short), None at
        the end of the output, `EMPTY` when nothing came within `timeout` seconds."""
        if self._at_end:
            return _EOF
        try:
            line = self._lines.get(timeout=None if timeout is None else max(0.0, timeout))
        except queue.Empty:
            return EMPTY
        self._at_end = line is _EOF
        return line

    def pause_reading(self) -> None:
        """Stop taking output after the line being read: the pipe fills and the writer blocks."""
        self._reading.clear()

    def rest(self) -> list[bytes]:
        """Every line still to come, once the process ended (resumes reading)."""
        self._reading.set()
        out = []
        while not self._at_end:
            line = self._lines.get(timeout=30)
            self._at_end = line is _EOF
            if line is not _EOF:
                out.append(line)
        return out

    # -- writing -------------------------------------------------------------------------------

    def send(self, data: bytes) -> None:
        """Write to stdin; a process that stopped reading (or died) is not an error here."""
        stdin = self.proc.stdin
        if stdin is None:
            return
        with contextlib.suppress(BrokenPipeError, OSError, ValueError):
            stdin.write(data)
            stdin.flush()

    # -- ending --------------------------------------------------------------------------------

    def descendants(self) -> list[int]:
        """Processes started (transitively) by this one, from /proc (empty where there is none)."""
        children: dict[int, list[int]] = {}
        for entry in Path("/proc").glob("[0-9]*"):
            with contextlib.suppress(OSError, ValueError, IndexError):
                # The parent pid follows the command name, which may contain spaces: split after ')'.
                ppid = int(entry.joinpath("stat").read_text().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry.name))
        out, todo = [], [self.proc.pid]
        while todo:
            for child in children.get(todo.pop(), []):
                out.append(child)
                todo.append(child)
        return out

    def kill(self, whole_group: bool = True) -> None:
        """SIGKILL: the process, and with `whole_group` every process of its session."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if whole_group:
                os.killpg(self.proc.pid, signal.SIGKILL)
            else:
                self.proc.kill()
        self.wait()

    def wait(self, timeout: float = 30) -> int:
        code = self.proc.wait(timeout=timeout)
        if self.proc.stdin is not None:
            with contextlib.suppress(OSError, BrokenPipeError):
                self.proc.stdin.close()
        return code

    def finish(self) -> None:
        """Let the output readers finish (the process has ended)."""
        for thread in self._threads:
            thread.join(timeout=10)


def still_alive(pids: Sequence[int], within: float) -> list[int]:
    """Those of `pids` that are still running after `within` seconds (zombies count as ended)."""
    deadline = time.monotonic() + within
    alive = list(pids)
    while alive and time.monotonic() < deadline:
        alive = [p for p in alive if _running(p)]
        if alive:
            time.sleep(0.05)
    return [p for p in alive if _running(p)]


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def command_of(pid: int) -> str:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    return "?"
