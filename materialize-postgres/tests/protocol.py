"""Driving connector processes over the materialize protocol by hand, for what `flowctl preview`
cannot do: two live sessions of one materialization, or an Apply with a `lastMaterialization`.

`binding_spec` builds a small MaterializationSpec binding (an `id` key, a string `v`, the
document) as a runtime would send it."""

from __future__ import annotations

import base64
import os
import queue
import subprocess
import sys
import threading
from typing import Any

import orjson
from estuary_cdk.materialize.packed import pack

READ_TIMEOUT = 60.0


def binding_spec(table: str, *, backfill: int = 0, keys: tuple[str, ...] = ("id",)) -> dict[str, Any]:
    def projection(field: str, types: list[str], exists: str = "MUST", **extra: Any) -> dict[str, Any]:
        ptr = f"/{field}" if field != "flow_document" else ""
        return {"ptr": ptr, "field": field, "inference": {"types": types, "exists": exists}, **extra}

    fields = {
        "id": projection("id", ["integer"], isPrimaryKey=True),
        "other": projection("other", ["integer"]),
        "v": projection("v", ["string", "null"], "MAY"),
        "flow_document": projection("flow_document", ["object"]),
    }
    return {
        "resourceConfig": {"table": table},
        "resourcePath": ["public", table],
        "collection": {
            "name": "tests/handmade",
            "key": ["/id"],
            "writeSchema": {"type": "object"},
            "projections": list(fields.values()),
        },
        "fieldSelection": {
            "keys": list(keys),
            "values": sorted(f for f in ("id", "other", "v") if f not in keys),
            "document": "flow_document",
        },
        "backfill": backfill,
        "stateKey": table,
    }


def materialization(config: dict[str, Any], *bindings: dict[str, Any]) -> dict[str, Any]:
    return {"name": "tests/handmade", "connectorType": "LOCAL", "config": config, "bindings": list(bindings)}


def store(key: list[Any], values: list[Any], doc: dict[str, Any], *, exists: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {
        "binding": 0,
        "keyPacked": base64.b64encode(pack(key)).decode(),
        "valuesPacked": base64.b64encode(pack(values)).decode(),
        "doc": doc,
    }
    if exists:
        body["exists"] = True
    return {"store": body}


def checkpoint(n: int) -> dict[str, Any]:
    return {"startCommit": {"runtimeCheckpoint": {"sources": {"handmade": {"readThrough": str(n)}}}}}


class Connector:
    """One `python -m materialize_postgres` process: JSON lines in, responses out."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "materialize_postgres"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, "LOG_FORMAT": "json", "LOG_LEVEL": "info"},
        )
        self._lines: queue.Queue[bytes] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line)
        self._lines.put(b"")

    def send(self, *messages: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        for message in messages:
            self.proc.stdin.write(orjson.dumps(message) + b"\n")
        self.proc.stdin.flush()

    def expect(self, kind: str) -> dict[str, Any]:
        """The next response, which must be `kind`."""
        line = self._lines.get(timeout=READ_TIMEOUT)
        if not line:
            code, err = self.finish()
            raise AssertionError(f"expected {kind}, but the connector exited {code}:\n{err}")
        response = orjson.loads(line)
        assert kind in response, f"expected {kind}, got {response}"
        return dict(response[kind])

    def finish(self) -> tuple[int, str]:
        """Close the input and wait for the exit: (exit status, stderr)."""
        assert self.proc.stdin is not None and self.proc.stderr is not None
        if not self.proc.stdin.closed:
            try:
                self.proc.stdin.close()
            except BrokenPipeError:
                pass
        code = self.proc.wait(timeout=READ_TIMEOUT)
        return code, self.proc.stderr.read().decode()

    def last_error(self) -> str:
        """The message of the last log line (the reason a failed connector gives)."""
        _, err = self.finish()
        lines = [orjson.loads(line) for line in err.splitlines() if line.startswith("{")]
        return str(lines[-1].get("msg", "")) if lines else err


def unary(request: dict[str, Any], kind: str) -> dict[str, Any]:
    connector = Connector()
    connector.send(request)
    response = connector.expect(kind)
    code, err = connector.finish()
    assert code == 0, err
    return response
