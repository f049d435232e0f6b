"""Drive the connector process over the capture protocol, as the runtime would.

Used by the tests that need protocol-level control (stop after the N-th checkpoint, restart with
the reduced state, count every committed document) and by the backfill benchmark. Only
documents followed by a checkpoint are *committed*: that is what the runtime keeps when a
connector is stopped.
"""

import asyncio
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

ALL_BINDINGS = (
    "items",
    "users",
    "updates",
    "topstories",
    "newstories",
    "beststories",
    "askstories",
    "showstories",
    "jobstories",
)
_KEYS = {"items": ["/id"], "users": ["/id"], "updates": ["/fetched_at"]}


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def open_request(
    config: dict[str, Any],
    state: dict[str, Any],
    bindings: Sequence[str] = ALL_BINDINGS,
    intervals: dict[str, str] | None = None,
) -> bytes:
    """An `open` request line for `bindings` (resource names), with ISO-8601 `intervals`."""
    specs = []
    for name in bindings:
        resource: dict[str, Any] = {"name": name}
        if intervals and name in intervals:
            resource["interval"] = intervals[name]
        specs.append(
            {
                "collection": {
                    "name": f"acmeCo/{name}",
                    "key": _KEYS.get(name, ["/_meta/row_id"]),
                    "writeSchema": {"type": "object"},
                },
                "resourceConfig": resource,
                "resourcePath": [name],
                "stateKey": name,
                "backfill": 0,
            }
        )
    request = {
        "open": {
            "capture": {
                "name": "acmeCo/source-hackernews",
                "connectorType": "LOCAL",
                "config": config,
                "intervalSeconds": 300,
                "bindings": specs,
            },
            "version": "test",
            "state": state,
        }
    }
    return orjson.dumps(request) + b"\n"


@dataclass
class Session:
    """What one connector run produced."""

    committed: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    """(binding name, document) for every document followed by a checkpoint."""
    committed_count: int = 0
    uncommitted: int = 0
    checkpoints: list[dict[str, Any]] = field(default_factory=list)
    state: dict[str, Any] = field(default_factory=dict)
    """The reduced state after the last checkpoint, to open the next session with."""
    pid: int = 0
    exit_code: int | None = None
    stderr: bytes = b""


StopWhen = Callable[[Session], bool]


async def run_session(
    config: dict[str, Any],
    state: dict[str, Any],
    stop_when: StopWhen,
    *,
    bindings: Sequence[str] = ALL_BINDINGS,
    intervals: dict[str, str] | None = None,
    max_seconds: float = 60.0,
    python: str = sys.executable,
    on_checkpoint: Callable[[Session], Any] | None = None,
    keep_documents: bool = True,
) -> Session:
    """Run `python -m source_hackernews` with an open request until `stop_when(session)` is true
    after a checkpoint (or the connector exits), then stop it like a shard being cancelled.
    With `keep_documents=False` captured lines are only counted, not parsed (benchmarks)."""
    session = Session(state=state)
    names = list(bindings)
    proc = await asyncio.create_subprocess_exec(
        python,
        "-m",
        "source_hackernews",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        limit=1 << 27,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    session.pid = proc.pid
    proc.stdin.write(open_request(config, state, names, intervals))
    await proc.stdin.drain()
    stderr_task = asyncio.ensure_future(proc.stderr.read())
    pending: list[tuple[str, dict[str, Any]]] = []
    pending_count = 0

    def handle(line: bytes) -> bool:
        """Process one response line; True when the session should stop."""
        nonlocal pending_count
        if not keep_documents and line.startswith(b'{"captured"'):
            pending_count += 1
            return False
        msg = orjson.loads(line)
        if "captured" in msg:
            pending_count += 1
            pending.append((names[msg["captured"]["binding"]], msg["captured"]["doc"]))
        elif "checkpoint" in msg:
            update = msg["checkpoint"]["state"]
            session.checkpoints.append(update)
            if update.get("mergePatch", False):
                session.state = merge_patch(session.state, update["updated"])
            else:
                session.state = update["updated"]
            session.committed.extend(pending)
            session.committed_count += pending_count
            pending.clear()
            pending_count = 0
            if on_checkpoint is not None:
                on_checkpoint(session)
            return stop_when(session)
        return False

    async def pump() -> None:
        # Big reads split into lines: far cheaper than one `readline()` await per document.
        assert proc.stdout is not None
        rest = b""
        while chunk := await proc.stdout.read(1 << 18):
            lines = (rest + chunk).split(b"\n")
            rest = lines.pop()
            for line in lines:
                if line and handle(line):
                    return
        if rest and handle(rest):
            return

    try:
        await asyncio.wait_for(pump(), max_seconds)
    finally:
        session.uncommitted = pending_count
        if proc.returncode is None:
            proc.kill()
        session.exit_code = await proc.wait()
        session.stderr = await stderr_task
    return session
