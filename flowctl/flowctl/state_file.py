"""Connector state in files, for `preview --initial-state @FILE` and `--output-state FILE`.

A state passed on the command line is limited by the system's argument size (a state over
~128 KiB fails with "Argument list too long"), so the documented way to resume a preview reads
it from a file. The file written by `--output-state FILE` holds the full reduced state of the
last committed transaction and is replaced atomically (a temporary file in the same directory,
fsync, rename, fsync of the directory): a run killed at any moment leaves either the previous
state or the new one, never a torn file, so

    flowctl preview --source flow.yaml --initial-state @state.json --output-state @state.json

resumes where the last run committed, however it ended.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import orjson

from .errors import UsageError

__all__ = ["StateFile", "file_argument", "read_state_argument"]


def file_argument(text: str) -> Path:
    """The path of `@path` or `path`."""
    return Path(text[1:] if text.startswith("@") else text)


def read_state_argument(text: str, flag: str = "--initial-state") -> dict[str, Any]:
    """A state given as JSON text, as `@path`, or as the path of an existing file."""
    stripped = text.strip()
    if stripped.startswith("@") or (not stripped.startswith(("{", "[")) and Path(text).is_file()):
        path = file_argument(stripped)
        try:
            raw = path.read_bytes()
        except OSError as err:
            raise UsageError(f"invalid {flag}: cannot read {str(path)!r}: {err.strerror or err}") from None
        where = f"{str(path)!r}"
    else:
        raw, where = text.encode(), "the argument"
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as err:
        hint = "" if where != "the argument" else " (a file is given as @path)"
        raise UsageError(
            f"invalid {flag}: {where} is not JSON (line {err.lineno}, column {err.colno}: {err.msg}){hint}"
        ) from None
    if not isinstance(value, dict):
        raise UsageError(f"invalid {flag}: {where} must hold a JSON object, not {type(value).__name__}")
    return value


class StateFile:
    """A file holding the latest reduced state, replaced atomically on every `write`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.writes = 0

    def check_writable(self) -> None:
        """Fail before the run starts when the file's directory does not exist."""
        parent = self.path.parent if str(self.path.parent) else Path(".")
        if not parent.is_dir():
            raise UsageError(f"invalid --output-state: directory {str(parent)!r} does not exist")

    def write(self, state: dict[str, Any]) -> None:
        try:
            data = orjson.dumps(state, option=orjson.OPT_APPEND_NEWLINE)
        except TypeError:  # integers beyond 64 bits
            data = json.dumps(state, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"
        parent = self.path.parent if str(self.path.parent) else Path(".")
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=parent)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        with contextlib.suppress(OSError):  # the rename itself is durable once the directory is
            dir_fd = os.open(parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        self.writes += 1
