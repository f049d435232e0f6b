"""Sessions driven over the protocol by hand: a zombie writer is fenced off by a newer session of
the same materialization, and a binding's backfill truncates or replaces its table."""

from __future__ import annotations

import json
from typing import Any

from conftest import Workspace
from protocol import Connector, binding_spec, checkpoint, materialization, store, unary


def _config(ws: Workspace) -> dict[str, Any]:
    s = ws.server
    return {"address": s.address, "user": s.user, "password": s.password, "database": ws.database}


def _open(spec: dict[str, Any]) -> Connector:
    connector = Connector()
    connector.send({"open": {"materialization": spec, "version": "1", "range": {"keyEnd": 4294967295}}})
    connector.expect("opened")
    return connector


def _begin(connector: Connector) -> None:
    connector.send({"acknowledge": {}})
    connector.expect("acknowledged")
    connector.send({"flush": {}})
    connector.expect("flushed")


def test_a_second_writer_fences_off_the_first(ws: Workspace) -> None:
    spec = materialization(_config(ws), binding_spec("fenced"))
    unary({"apply": {"materialization": spec, "version": "1"}}, "applied")

    zombie = _open(spec)
    _begin(zombie)
    zombie.send(store([1], [10, "from the zombie"], {"id": 1, "v": "from the zombie"}))

    successor = _open(spec)  # bumps the fence while the zombie's transaction is open
    zombie.send(checkpoint(1))
    assert "fenced off by another that opened since" in zombie.last_error()
    assert zombie.proc.returncode == 1

    _begin(successor)
    successor.send(store([2], [20, "from the successor"], {"id": 2, "v": "from the successor"}))
    successor.send(checkpoint(2))
    successor.expect("startedCommit")
    assert successor.finish()[0] == 0

    assert ws.sql("SELECT id, other, v FROM fenced ORDER BY id") == [(2, 20, "from the successor")]
    ((name, _, _, fence, saved),) = ws.checkpoints()
    assert (name, fence) == ("tests/handmade", 1)
    assert json.loads(saved) == {"sources": {"handmade": {"readThrough": "2"}}}


def test_a_resumed_session_loads_what_it_stored_and_updates_it(ws: Workspace) -> None:
    spec = materialization(_config(ws), binding_spec("resumed"))
    unary({"apply": {"materialization": spec, "version": "1"}}, "applied")
    first = _open(spec)
    _begin(first)
    first.send(store([1], [1, "one"], {"id": 1, "v": "one"}), store([2], [2, "two"], {"id": 2, "v": "two"}))
    first.send(checkpoint(1))
    first.expect("startedCommit")
    assert first.finish()[0] == 0

    second = Connector()
    second.send({"open": {"materialization": spec, "version": "1", "range": {"keyEnd": 4294967295}}})
    assert second.expect("opened") == {"runtimeCheckpoint": {"sources": {"handmade": {"readThrough": "1"}}}}
    second.send({"acknowledge": {}})
    second.expect("acknowledged")
    second.send(
        {"load": {"binding": 0, "keyPacked": store([1], [], {})["store"]["keyPacked"]}},
        {"load": {"binding": 0, "keyPacked": store([3], [], {})["store"]["keyPacked"]}},
        {"flush": {}},
    )
    assert second.expect("loaded") == {"binding": 0, "doc": {"id": 1, "v": "one"}}
    second.expect("flushed")  # key 3 was never stored: nothing loaded for it
    second.send(store([1], [11, "one, updated"], {"id": 1, "v": "one, updated"}, exists=True), checkpoint(2))
    second.expect("startedCommit")
    assert second.finish()[0] == 0
    assert ws.sql("SELECT id, other, v FROM resumed ORDER BY id") == [(1, 11, "one, updated"), (2, 2, "two")]


def test_a_backfill_truncates_or_replaces_the_table(ws: Workspace) -> None:
    config = _config(ws)
    v1 = materialization(config, binding_spec("backfilled"))
    unary({"apply": {"materialization": v1, "version": "1"}}, "applied")
    writer = _open(v1)
    _begin(writer)
    writer.send(store([1], [1, "kept?"], {"id": 1, "v": "kept?"}), checkpoint(1))
    writer.expect("startedCommit")
    writer.finish()

    same = unary({"apply": {"materialization": v1, "version": "1", "lastMaterialization": v1}}, "applied")
    assert same == {}  # nothing to do
    assert ws.sql("SELECT count(*) FROM backfilled") == [(1,)]

    v2 = materialization(config, binding_spec("backfilled", backfill=1))
    truncated = unary(
        {"apply": {"materialization": v2, "version": "2", "lastMaterialization": v1}}, "applied"
    )
    assert truncated["actionDescription"] == "TRUNCATE TABLE public.backfilled;"
    assert ws.sql("SELECT count(*) FROM backfilled") == [(0,)]

    # A new key cannot be had by truncating: the table is dropped and created again.
    v3 = materialization(config, binding_spec("backfilled", backfill=2, keys=("id", "other")))
    replaced = unary({"apply": {"materialization": v3, "version": "3", "lastMaterialization": v2}}, "applied")
    assert replaced["actionDescription"].startswith(
        "DROP TABLE public.backfilled;\nCREATE TABLE IF NOT EXISTS"
    )
    assert "PRIMARY KEY (id, other)" in replaced["actionDescription"]
    assert ws.sql(
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
        "WHERE i.indrelid = 'backfilled'::regclass AND i.indisprimary ORDER BY a.attname"
    ) == [("id",), ("other",)]


def test_without_hard_deletes_a_deletion_is_stored_like_any_document(ws: Workspace) -> None:
    spec = materialization(_config(ws), binding_spec("soft"))  # hardDelete: false (the default)
    unary({"apply": {"materialization": spec, "version": "1"}}, "applied")
    writer = _open(spec)
    _begin(writer)
    writer.send(store([1], [1, "here"], {"id": 1, "v": "here"}), checkpoint(1))
    writer.expect("startedCommit")
    _begin(writer)
    deletion = store([1], [1, None], {"id": 1, "_meta": {"op": "d"}}, exists=True)
    deletion["store"]["delete"] = True
    writer.send(deletion, checkpoint(2))
    writer.expect("startedCommit")
    assert writer.finish()[0] == 0
    assert ws.sql("SELECT id, v, flow_document::text FROM soft") == [(1, None, '{"id":1,"_meta":{"op":"d"}}')]
