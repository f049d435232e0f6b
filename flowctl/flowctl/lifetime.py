"""What signals do to flowctl and its connector processes.

Every signal flowctl can catch (SIGINT, SIGTERM, SIGHUP: Ctrl-C, `kill`, a closed terminal)
ends its connectors before flowctl ends:

* the first one stops gracefully. Commands that can end a run cleanly (`preview` of a capture,
  `run`) register that with `graceful_stop`: no further transaction, sessions end, the summary is
  printed. Any other command (`raw ...`, `preview --fixture`) is cancelled: its connector
  processes are stopped as the runtime stops them (SIGTERM, then SIGKILL after a grace period),
  and flowctl exits 130.
* a second one kills every connector process at once (SIGKILL; an image connector's guard kills
  its container and removes it) and exits 130 without waiting for anything else.

What cannot be caught (SIGKILL, a crash) is covered by the children themselves: they die with
their parent (parent_death.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, Protocol, TypeVar

T = TypeVar("T")

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Killable(Protocol):
    def kill_now(self) -> None: ...


_live: set[Killable] = set()


def started(process: Killable) -> None:
    """A connector process is running: a second signal must kill it."""
    _live.add(process)


def ended(process: Killable) -> None:
    _live.discard(process)


def kill_all_now() -> None:
    """Kill every running connector process at once."""
    for process in list(_live):
        with contextlib.suppress(Exception):
            process.kill_now()


class _Policy:
    """The signal handlers of one event loop (see the module docstring)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, main: asyncio.Task[Any] | None) -> None:
        self.loop = loop
        self.main = main
        self.graceful: list[Callable[[str], None]] = []
        self.received: list[str] = []
        self.cancelled_main = False
        self.installed: list[signal.Signals] = []

    def install(self) -> None:
        for sig in SIGNALS:
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                self.loop.add_signal_handler(sig, self.on_signal, sig)
                self.installed.append(sig)

    def uninstall(self) -> None:
        for sig in self.installed:
            with contextlib.suppress(Exception):
                self.loop.remove_signal_handler(sig)
        self.installed = []

    def on_signal(self, sig: signal.Signals) -> None:
        name = signal.Signals(sig).name
        self.received.append(name)
        if len(self.received) == 1:
            if self.graceful:
                self.graceful[-1](name)
                return
            if self.main is not None and not self.main.done():
                sys.stderr.write(f"flowctl: stopping ({name}): ending the connector\n")
                self.cancelled_main = True
                self.main.cancel()
                return
        sys.stderr.write(f"flowctl: {name} again: killing the connector processes at once\n")
        kill_all_now()
        raise KeyboardInterrupt


_policy: _Policy | None = None


@contextlib.contextmanager
def _installed(main: asyncio.Task[Any] | None) -> Iterator[_Policy]:
    global _policy
    previous = _policy
    policy = _Policy(asyncio.get_running_loop(), main)
    policy.install()
    _policy = policy
    try:
        yield policy
    finally:
        policy.uninstall()
        _policy = previous
        if previous is not None:
            previous.install()


@contextlib.contextmanager
def graceful_stop(stop: Callable[[str], None]) -> Iterator[None]:
    """While inside, the first signal calls `stop(<signal name>)` instead of cancelling the
    command; a second one still kills at once. Works without `run` too (it then installs the
    handlers itself, for as long as it is entered)."""
    own = None
    if _policy is None or _policy.loop is not asyncio.get_running_loop():
        own = _installed(None)
        own.__enter__()
    assert _policy is not None
    policy = _policy
    policy.graceful.append(stop)
    try:
        yield
    finally:
        policy.graceful.remove(stop)
        if own is not None:
            own.__exit__(None, None, None)


def run(main: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run(main)` under the signal policy. A command the first signal cancelled raises
    KeyboardInterrupt (exit 130); whatever happens, no connector process is left running."""
    cancelled = False

    async def guarded() -> T:
        nonlocal cancelled
        with _installed(asyncio.current_task()) as policy:
            try:
                return await main
            finally:
                cancelled = policy.cancelled_main

    try:
        return asyncio.run(guarded())
    except asyncio.CancelledError:
        if cancelled:
            raise KeyboardInterrupt from None
        raise
    finally:
        kill_all_now()
