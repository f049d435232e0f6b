"""Children that die with flowctl: Linux's PR_SET_PDEATHSIG, set between fork and exec.

A connector must not outlive the runtime that started it, also when the runtime cannot say
goodbye (SIGKILL, a crash, the OOM killer). Closing the connector's stdin is no signal: a capture
that does not ask for acknowledgements keeps running when its input ends, by design (the kit
ignores the end of its input there, as the protocol allows), and an idle capture may not write a
line for minutes, so it would not meet a broken stdout either. The kernel's parent-death signal
needs nothing from the connector, whatever its language or kit: the child asks, before it
executes the connector, to get SIGTERM when the thread that forked it ends, and the setting
survives exec (not a set-user-ID one). Image connectors get it through their container guard
(container_guard.py), which also removes the container.

Only Linux has it; elsewhere `preexec()` returns None and children end only when flowctl stops
them (on every signal it can catch, see lifetime.py).

This module imports nothing heavy: the container guard uses it too, once per connector process.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from collections.abc import Callable
from typing import Any

PR_SET_PDEATHSIG = 1


def _load_prctl() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


# Resolved once, before any fork: the child then calls it without loading anything.
_PRCTL = _load_prctl()


def supported() -> bool:
    return _PRCTL is not None


def preexec(sig: signal.Signals = signal.SIGTERM) -> Callable[[], None] | None:
    """A `preexec_fn` that makes the child get `sig` when its parent dies, or None where the
    system has no such thing. When the parent died between the fork and this call (the signal
    would never come), the child ends itself at once."""
    if _PRCTL is None:
        return None
    prctl = _PRCTL
    parent = os.getpid()
    number = int(sig)

    def child() -> None:
        prctl(PR_SET_PDEATHSIG, number, 0, 0, 0)
        if os.getppid() != parent:
            os.kill(os.getpid(), signal.SIGKILL)

    return child
