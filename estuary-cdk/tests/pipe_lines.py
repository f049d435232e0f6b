"""Reading a connector subprocess's output in protocol tests: lines with a deadline (a hung
connector fails the test instead of hanging it) and a check that the output stays idle."""

from __future__ import annotations

import os
import select
import time


class LineReader:
    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buf = b""
        self.eof = False

    def _fill(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return False
        chunk = os.read(self.fd, 65536)
        self.eof = not chunk
        self.buf += chunk
        return bool(chunk)

    def readline(self, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            if not self._fill(max(0.0, deadline - time.monotonic())):
                raise AssertionError(f"no complete line within {timeout}s; have {self.buf!r}")
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode()

    def idle_for(self, seconds: float) -> bool:
        """Nothing buffered and nothing arrives within `seconds`."""
        return not self.buf and not self._fill(seconds)

    def rest(self, timeout: float = 30) -> bytes:
        """Everything up to end of file (or what arrived by the deadline)."""
        deadline = time.monotonic() + timeout
        while not self.eof and time.monotonic() < deadline:
            self._fill(max(0.0, deadline - time.monotonic()))
        return self.buf
