"""The materialize transaction loop (flow-protocol §3.4) driven with real request lines: order
of responses, decoded keys and values, batching, clean and unclean ends, and protocol errors
that name the request and its line."""

from __future__ import annotations

import base64
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from estuary_cdk._input import LineSource
from estuary_cdk.materialize import session as session_module
from estuary_cdk.materialize.packed import pack
from estuary_cdk.testing import LogCapture, capture_logger
from materialize_fixture import Connector

FULL_RANGE = {"keyEnd": 4294967295, "rClockEnd": 4294967295}


def b64(values: list[Any]) -> str:
    return base64.b64encode(pack(values)).decode()


def collection(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "key": ["/id"],
        "writeSchema": {"type": "object"},
        "projections": [
            {
                "ptr": "/id",
                "field": "id",
                "isPrimaryKey": True,
                "inference": {"types": ["integer"], "exists": "MUST"},
            },
            {"ptr": "/name", "field": "name", "inference": {"types": ["string"], "exists": "MAY"}},
            {"field": "flow_document", "inference": {"types": ["object"], "exists": "MUST"}},
        ],
    }


def open_request(path: Path, delta: bool = False, fail_at: str = "") -> dict[str, Any]:
    bindings = [
        {
            "resourceConfig": {"table": "users"},
            "resourcePath": ["users"],
            "collection": collection("acmeCo/users"),
            "fieldSelection": {"keys": ["id"], "values": ["name"], "document": "flow_document"},
            "stateKey": "users",
        },
        {
            "resourceConfig": {"table": "events", "delta_updates": True},
            "resourcePath": ["events"],
            "collection": collection("acmeCo/events"),
            "fieldSelection": {"keys": ["id"], "values": ["name"], "document": "flow_document"},
            "deltaUpdates": True,
            "stateKey": "events",
        },
    ]
    return {
        "open": {
            "materialization": {
                "name": "acmeCo/to-fixture",
                "config": {"path": str(path), "fail_at": fail_at},
                "bindings": bindings[: 1 if not delta else 2],
            },
            "version": "v1",
            "range": FULL_RANGE,
            "state": {},
        }
    }


def store(binding: int, id_: int, name: str, exists: bool = False, delete: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {
        "binding": binding,
        "keyPacked": b64([id_]),
        "valuesPacked": b64([name]),
        "doc": {"id": id_, "name": name},
    }
    if exists:
        body["exists"] = True
    if delete:
        body["delete"] = True
    return {"store": body}


def transaction(loads: list[int], stores: list[dict[str, Any]], txn: int) -> list[dict[str, Any]]:
    return [
        {"acknowledge": {}},
        *({"load": {"binding": 0, "keyPacked": b64([k])}} for k in loads),
        {"flush": {}},
        *stores,
        {"startCommit": {"runtimeCheckpoint": {"sources": {"fixture": {"readThrough": str(txn)}}}}},
    ]


class Served:
    def __init__(self, connector: Connector, out: list[dict[str, Any]], code: int, logs: LogCapture) -> None:
        self.connector, self.out, self.code, self.logs = connector, out, code, logs

    @property
    def last_line(self) -> dict[str, Any]:
        return self.logs.lines[-1]

    def __iter__(self) -> Any:
        return iter((self.connector, self.out, self.code))


async def run(lines: list[Any], raw: bytes = b"") -> Served:
    """Serve `lines` (JSON values, then `raw` bytes): the responses, exit code and logs."""
    log, logs = capture_logger()
    connector = Connector()
    connector.output = io.BytesIO()
    data = b"".join(json.dumps(line).encode() + b"\n" for line in lines) + raw
    code = 0
    try:
        await connector.serve(log, source=LineSource.of(data))
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = [json.loads(line) for line in connector.output.getvalue().splitlines()]  # type: ignore[attr-defined]
    return Served(connector, out, code, logs)


async def test_a_session_answers_in_protocol_order(tmp_path: Path) -> None:
    db = tmp_path / "db.json"
    lines = [
        {"spec": {"connectorType": "IMAGE", "config": {}}},
        open_request(db),
        *transaction([], [store(0, 1, "a"), store(0, 2, "b")], 1),
        *transaction([1, 3], [store(0, 1, "A", exists=True), store(0, 2, "", exists=True, delete=True)], 2),
        {"acknowledge": {}},
    ]
    connector, out, code = await run(lines)
    assert code == 0
    kinds = [next(iter(m)) for m in out]
    assert kinds == [
        "spec", "opened",
        "acknowledged", "flushed", "startedCommit",
        "acknowledged", "loaded", "flushed", "startedCommit",
        "acknowledged",
    ]  # fmt: skip
    assert out[0]["spec"]["protocol"] == 3032023
    assert out[1] == {"opened": {"runtimeCheckpoint": {}}}
    # Only key 1 was stored before; key 3 never was.
    assert out[6] == {"loaded": {"binding": 0, "doc": {"id": 1, "name": "a"}}}
    assert out[7] == {"flushed": {"state": {"updated": {"flushed": True}, "mergePatch": True}}}
    assert out[8] == {"startedCommit": {}}
    saved = json.loads(db.read_text())
    assert saved == {
        "checkpoint": {"sources": {"fixture": {"readThrough": "2"}}},
        "tables": {"users": {"[1]": {"id": 1, "name": "A"}}},
    }
    t = connector.transactor
    assert t is not None and t.closed
    assert t.calls == [
        "acknowledge", "flush", "store", "start_commit",
        "acknowledge", "load", "flush", "store", "start_commit",
        "acknowledge",
    ]  # fmt: skip


async def test_a_restart_resumes_from_the_destination_checkpoint(tmp_path: Path) -> None:
    db = tmp_path / "db.json"
    await run([open_request(db), *transaction([], [store(0, 1, "a")], 7)])
    _, out, code = await run([open_request(db)])
    assert code == 0
    assert out == [{"opened": {"runtimeCheckpoint": {"sources": {"fixture": {"readThrough": "7"}}}}}]


async def test_stores_and_loads_arrive_in_batches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(session_module, "STORE_BATCH", 3)
    monkeypatch.setattr(session_module, "LOAD_BATCH", 4)
    stores = [store(0, i, f"n{i}") for i in range(8)]
    connector, _out, code = await run(
        [open_request(tmp_path / "db.json"), *transaction(list(range(10)), stores, 1)]
    )
    assert code == 0
    t = connector.transactor
    assert t is not None
    assert t.store_batches == [3, 3, 2]
    assert t.load_batches == [4, 4, 2]


async def test_values_and_keys_are_decoded_with_their_types(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(session_module, "STORE_BATCH", 1)
    odd = {
        "store": {
            "binding": 0,
            "keyPacked": b64([-5]),
            "valuesPacked": b64([None, 1.5, True, "x\x00y", b'{"a":1}']),
            "exists": True,
        }
    }
    connector, _out, code = await run(
        [open_request(tmp_path / "db.json"), {"acknowledge": {}}, {"flush": {}}, odd]
    )
    # The input ended during stores: an error, and nothing was committed.
    assert code == 1
    t = connector.transactor
    assert t is not None and t.closed
    (s,) = t.pending
    seen = [s.binding, s.key, s.values, s.doc, s.exists, s.delete]
    assert seen == [0, (-5,), (None, 1.5, True, "x\x00y", b'{"a":1}'), None, True, False]
    assert not (tmp_path / "db.json").exists()


async def test_a_delta_binding_stores_without_loads(tmp_path: Path) -> None:
    db = tmp_path / "db.json"
    _, _out, code = await run(
        [open_request(db, delta=True), *transaction([], [store(1, 1, "a"), store(1, 1, "b")], 1)]
    )
    assert code == 0
    assert json.loads(db.read_text())["tables"]["events"] == {
        "[1]#0": {"id": 1, "name": "a"},
        "[1]#1": {"id": 1, "name": "b"},
    }


async def test_a_clean_end_after_an_acknowledge_exits_0(tmp_path: Path) -> None:
    _, out, code = await run([open_request(tmp_path / "db.json"), {"acknowledge": {}}])
    assert code == 0
    assert [next(iter(m)) for m in out] == ["opened", "acknowledged"]


@pytest.mark.parametrize(
    ("after_open", "raw", "message"),
    [
        (
            [{"load": {"binding": 0, "keyPacked": b64([1])}}],
            b"",
            "input line 2: Load while awaiting acknowledge (expected Acknowledge)",
        ),
        (
            [{"acknowledge": {}}, store(0, 1, "a")],
            b"",
            "input line 3: Store while loading (expected Load or Flush)",
        ),
        (
            [{"acknowledge": {}}, {"flush": {}}, {"flush": {}}],
            b"",
            "input line 4: Flush while storing (expected Store or StartCommit)",
        ),
        ([{"acknowledge": {}}, {"acknowledge": {}}], b"", "input line 3: Acknowledge while loading"),
        ([{"acknowledge": {}}, {"bogus": {}}], b"", "input line 3: unexpected bogus while loading"),
        ([{"acknowledge": {}}], b"not json\n", "input line 3: not a JSON object"),
        (
            [{"acknowledge": {}}, {"load": {"binding": 3, "keyPacked": b64([1])}}],
            b"",
            "invalid Load: binding 3 is out of range (1 bindings)",
        ),
        (
            [{"acknowledge": {}}, {"load": {"binding": 0, "keyPacked": "!!"}}],
            b"",
            "input line 3: invalid Load",
        ),
        (
            [{"acknowledge": {}}, {"load": {"binding": 0, "keyPacked": b64([1])[:-4] + "Ag=="}}],
            b"",
            "invalid Load: unterminated string",
        ),
        (
            [{"acknowledge": {}}, {"load": {"binding": 0, "keyPacked": b64([1])}}],
            b"",
            "closed the input in the middle of a transaction (after 1 load(s), expected Load or Flush)",
        ),
        (
            [{"acknowledge": {}}, {"flush": {}}, store(0, 1, "a")],
            b"",
            "(after 1 store(s), expected Store or StartCommit); its stores were not committed",
        ),
    ],
)
async def test_protocol_errors_name_the_request_and_line(
    tmp_path: Path, after_open: list[Any], raw: bytes, message: str
) -> None:
    served = await run([open_request(tmp_path / "db.json"), *after_open], raw)
    assert served.code == 1
    assert served.last_line["level"] == "ERROR" and message in served.last_line["msg"]
    assert served.connector.transactor is not None and served.connector.transactor.closed


async def test_a_delta_binding_refuses_loads(tmp_path: Path) -> None:
    served = await run(
        [
            open_request(tmp_path / "db.json", delta=True),
            {"acknowledge": {}},
            {"load": {"binding": 1, "keyPacked": b64([1])}},
        ]
    )
    assert served.code == 1
    assert "binding 1 uses delta updates, which never load" in served.last_line["msg"]


@pytest.mark.parametrize("step", ["acknowledge", "flush", "store", "start_commit"])
async def test_a_failing_transactor_ends_the_session_with_its_message(tmp_path: Path, step: str) -> None:
    db = tmp_path / "db.json"
    served = await run([open_request(db, fail_at=step), *transaction([], [store(0, 1, "a")], 1)])
    assert served.code == 1
    assert served.last_line["level"] == "ERROR"
    assert served.last_line["msg"] == f"the fixture was told to fail at {step}"
    assert served.connector.transactor is not None and served.connector.transactor.closed
    assert not db.exists()


def test_served_over_a_real_pipe(tmp_path: Path) -> None:
    db = tmp_path / "db.json"
    lines = [
        {"spec": {"connectorType": "LOCAL", "config": {}}},
        open_request(db),
        *transaction([], [store(0, i, f"n{i}") for i in range(2000)], 1),
        *transaction(list(range(0, 2000, 7)), [], 2),
        {"acknowledge": {}},
    ]
    proc = subprocess.run(
        [sys.executable, "-m", "materialize_fixture"],
        input=b"".join(json.dumps(line).encode() + b"\n" for line in lines),
        capture_output=True,
        cwd=Path(__file__).parent,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    out = [json.loads(line) for line in proc.stdout.splitlines()]
    assert sum("loaded" in m for m in out) == len(range(0, 2000, 7))
    assert len(json.loads(db.read_text())["tables"]["users"]) == 2000
