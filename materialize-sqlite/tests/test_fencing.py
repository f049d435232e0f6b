"""Two sessions of one materialization against the same database file: the older one (a zombie
that does not know it was replaced) is fenced off and none of its writes survive."""

from __future__ import annotations

import base64
import json
import sqlite3
from pathlib import Path
from typing import Any

from conftest import Connector
from estuary_cdk.materialize.packed import pack

RANGE = {"keyEnd": 4294967295, "rClockEnd": 4294967295}


def _spec(db: Path) -> dict[str, Any]:
    collection = {
        "name": "tests/items",
        "key": ["/id"],
        "projections": [
            {
                "ptr": "/id",
                "field": "id",
                "isPrimaryKey": True,
                "inference": {"types": ["integer"], "exists": "MUST"},
            },
            {"ptr": "/name", "field": "name", "inference": {"types": ["string"], "exists": "MUST"}},
            {"field": "flow_document", "inference": {"types": ["object"], "exists": "MUST"}},
        ],
    }
    return {
        "name": "tests/fenced",
        "config": {"path": str(db)},
        "bindings": [
            {
                "resourceConfig": {"table": "items"},
                "resourcePath": ["items"],
                "collection": collection,
                "fieldSelection": {"keys": ["id"], "values": ["name"], "document": "flow_document"},
                "stateKey": "items",
            }
        ],
    }


def _store(i: int, name: str) -> dict[str, Any]:
    return {
        "store": {
            "binding": 0,
            "keyPacked": base64.b64encode(pack([i])).decode(),
            "valuesPacked": base64.b64encode(pack([name])).decode(),
            "doc": {"id": i, "name": name},
        }
    }


def _commit(n: int) -> dict[str, Any]:
    return {"startCommit": {"runtimeCheckpoint": {"sources": {"test": {"readThrough": str(n)}}}}}


def test_a_zombie_session_is_fenced_off(tmp_path: Path) -> None:
    db = tmp_path / "fenced.db"
    spec = _spec(db)
    apply = Connector(tmp_path)
    apply.send({"apply": {"materialization": spec, "version": "1"}})
    assert "CREATE TABLE" in apply.read()["applied"]["actionDescription"]
    assert apply.finish()[0] == 0

    zombie, current = Connector(tmp_path), Connector(tmp_path)
    zombie.send({"open": {"materialization": spec, "version": "1", "range": RANGE}}, {"acknowledge": {}})
    assert zombie.read() == {"opened": {"runtimeCheckpoint": {}}}
    assert zombie.read() == {"acknowledged": {}}

    # A second session of the same materialization opens: the first is now a zombie.
    current.send({"open": {"materialization": spec, "version": "1", "range": RANGE}}, {"acknowledge": {}})
    assert current.read() == {"opened": {"runtimeCheckpoint": {}}}
    assert current.read() == {"acknowledged": {}}

    zombie.send({"flush": {}}, _store(1, "from the zombie"), _store(2, "from the zombie"), _commit(1))
    assert zombie.read() == {"flushed": {}}
    code, last = zombie.finish()
    assert code == 1
    assert "fenced off by another" in json.loads(last)["msg"]

    current.send({"flush": {}}, _store(1, "current"), _commit(7), {"acknowledge": {}})
    assert current.read() == {"flushed": {}}
    assert current.read() == {"startedCommit": {}}
    assert current.read() == {"acknowledged": {}}
    assert current.finish()[0] == 0

    conn = sqlite3.connect(db)
    assert conn.execute("SELECT id, name FROM items").fetchall() == [(1, "current")]
    assert conn.execute("SELECT fence, checkpoint FROM flow_checkpoints_v1").fetchall() == [
        (1, '{"sources":{"test":{"readThrough":"7"}}}')
    ]
