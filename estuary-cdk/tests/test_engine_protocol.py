"""Protocol tests: the example connector (built on the capture engine) runs as a real
subprocess; we feed it request lines and assert its exact response lines."""

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import xxhash
from engine_fixtures.harness import apply_merge_patch
from estuary_cdk.capture.common import ResourceConfig
from example_connector import EndpointConfig, Item
from pipe_lines import LineReader

TESTS_DIR = Path(__file__).parent
NOW = "2025-06-01T12:00:00Z"
TOKEN = "example-secret-token"


@dataclass
class Result:
    rc: int
    raw: list[str]
    stderr: list[dict[str, Any]]

    @property
    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.raw]


def env(now: str = NOW) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(TESTS_DIR), "EXAMPLE_CONNECTOR_NOW": now, "LOG_LEVEL": "info"}


def run(*requests: dict[str, Any], timeout: float = 30, now: str = NOW) -> Result:
    stdin = "".join(json.dumps(r) + "\n" for r in requests)
    proc = subprocess.run(
        [sys.executable, "-m", "example_connector"],
        input=stdin.encode(),
        capture_output=True,
        env=env(now),
        cwd=TESTS_DIR,
        timeout=timeout,
    )
    return Result(
        proc.returncode,
        proc.stdout.decode().splitlines(),
        [json.loads(line) for line in proc.stderr.decode().splitlines() if line.strip()],
    )


def config(**overrides: Any) -> dict[str, Any]:
    return {"token": TOKEN, **overrides}


def wire_binding(name: str, key: list[str] | None = None, **resource: Any) -> dict[str, Any]:
    return {
        "collection": {"name": f"acmeCo/{name}", "key": key or ["/id"], "writeSchema": {}},
        "resourceConfig": {"name": name, **resource},
        "resourcePath": [name],
        "stateKey": name,
        "backfill": 0,
    }


ITEMS = wire_binding("items")
SNAP = wire_binding("snap", key=["/_meta/row_id"], interval="PT1H")
EVENTS = wire_binding("events")


def open_request(bindings: list[dict[str, Any]], state: dict[str, Any], **cfg: Any) -> dict[str, Any]:
    return {
        "open": {
            "capture": {
                "name": "acmeCo/example",
                "connectorType": "IMAGE",
                "config": config(**cfg),
                "intervalSeconds": 300,
                "bindings": bindings,
            },
            "version": "v1",
            "range": {"keyBegin": 0, "keyEnd": 4294967295, "rClockBegin": 0, "rClockEnd": 4294967295},
            "state": state,
        }
    }


def checkpoint(updated: str) -> str:
    return '{"checkpoint":{"state":{"updated":' + updated + ',"mergePatch":true}}}'


def reduce_state(state: dict[str, Any], lines: list[dict[str, Any]]) -> dict[str, Any]:
    """What the runtime does: apply every checkpoint's merge patch in order."""
    for line in lines:
        if "checkpoint" in line:
            assert line["checkpoint"]["state"]["mergePatch"] is True
            state = apply_merge_patch(state, line["checkpoint"]["state"]["updated"])
    return state


def committed_docs(lines: list[dict[str, Any]]) -> list[Any]:
    """Documents followed by a checkpoint (the runtime discards a trailing partial sequence)."""
    out: list[Any] = []
    pending: list[Any] = []
    for line in lines:
        if "captured" in line:
            pending.append(line["captured"])
        elif "checkpoint" in line:
            out.extend(pending)
            pending = []
    return out


def test_spec() -> None:
    r = run({"spec": {"connectorType": "IMAGE"}})
    assert r.rc == 0
    assert r.raw == [
        json.dumps(
            {
                "spec": {
                    "configSchema": EndpointConfig.model_json_schema(),
                    "resourceConfigSchema": ResourceConfig.model_json_schema(),
                    "documentationUrl": "https://example.com/docs",
                    "resourcePathPointers": ["/name"],
                    "protocol": 3032023,
                }
            },
            separators=(",", ":"),
        )
    ]


def test_discover() -> None:
    r = run({"discover": {"connectorType": "IMAGE", "config": config()}})
    assert r.rc == 0
    (line,) = r.lines
    bindings = line["discovered"]["bindings"]
    delete_rule = {
        "if": {
            "required": ["_meta"],
            "properties": {"_meta": {"required": ["op"], "properties": {"op": {"const": "d"}}}},
        },
        "then": {"reduce": {"strategy": "merge", "delete": True}},
    }
    assert [{k: v for k, v in b.items() if k != "documentSchema"} for b in bindings] == [
        {
            "recommendedName": "items",
            "resourceConfig": {"name": "items"},
            "key": ["/id"],
            "disable": False,
        },
        {
            "recommendedName": "snap",
            "resourceConfig": {"name": "snap"},
            "key": ["/_meta/row_id"],
            "disable": False,
        },
        {
            "recommendedName": "events",
            "resourceConfig": {"name": "events"},
            "key": ["/id"],
            "disable": False,
        },
    ]
    item_schema = Item.model_json_schema(mode="serialization")
    assert item_schema["required"] == ["id", "name"]
    # Keyed resources: the model's schema as the reference kit discovers it.
    assert bindings[0]["documentSchema"] == {**item_schema, "x-infer-schema": True, **delete_rule}
    assert bindings[1]["documentSchema"]["x-infer-schema"] is True
    assert bindings[2]["documentSchema"] == item_schema


def test_validate() -> None:
    r = run(
        {
            "validate": {
                "name": "acmeCo/example",
                "connectorType": "IMAGE",
                "config": config(),
                "bindings": [
                    {"collection": SNAP["collection"], "resourceConfig": {"name": "snap"}, "backfill": 0},
                    {
                        "collection": ITEMS["collection"],
                        "resourceConfig": {"name": "items", "interval": "PT5M"},
                        "backfill": 2,
                    },
                ],
            }
        }
    )
    assert r.rc == 0
    assert r.raw == ['{"validated":{"bindings":[{"resourcePath":["snap"]},{"resourcePath":["items"]}]}}']


def test_validate_reports_every_error_together() -> None:
    r = run(
        {
            "validate": {
                "name": "acmeCo/example",
                "connectorType": "IMAGE",
                "config": config(),
                "bindings": [
                    {
                        "collection": {"name": "acmeCo/nope", "key": ["/id"], "writeSchema": {}},
                        "resourceConfig": {"name": "nope"},
                    },
                    {
                        "collection": {"name": "acmeCo/snap", "key": ["/id"], "writeSchema": {}},
                        "resourceConfig": {"name": "snap"},
                    },
                ],
            }
        }
    )
    assert r.rc == 1
    assert r.raw == []
    last = r.stderr[-1]
    assert last["level"] == "ERROR"
    assert last["msg"] == (
        "Multiple validation errors:\n"
        " - Resource 'nope' was not found.\n"
        " - Collection 'acmeCo/snap' is bound to snapshot resource 'snap' and so must be keyed on "
        "/_meta/row_id, but its key is ['/id']."
    )


def test_open_with_backfill_incremental_and_snapshot_bindings() -> None:
    r = run(open_request([ITEMS, SNAP], {}))
    assert r.rc == 0, r.stderr[-3:]
    # The snapshot digest is the xxh3-128 of its three captured lines.
    digest = xxhash.xxh3_128("".join(r.raw[14:17]).encode()).hexdigest()
    assert r.raw == [
        '{"opened":{"explicitAcknowledgements":false}}',
        checkpoint(
            '{"bindingStateV1":{"items":{"inc":{"cursor":0},"backfill":{"cutoff":0,"next_page":null},'
            '"last_initialized":"2025-06-01T12:00:00Z"}}}'
        ),
        checkpoint('{"bindingStateV1":{"snap":{"last_initialized":"2025-06-01T12:00:00Z"}}}'),
        '{"captured":{"binding":0,"doc":{"id":1001,"name":"change-1","seq":1}}}',
        '{"captured":{"binding":0,"doc":{"id":1002,"name":"change-2","seq":2}}}',
        checkpoint('{"bindingStateV1":{"items":{"inc":{"cursor":2}}}}'),
        '{"captured":{"binding":0,"doc":{"id":1003,"name":"change-3","seq":3}}}',
        checkpoint('{"bindingStateV1":{"items":{"inc":{"cursor":3}}}}'),
        '{"captured":{"binding":0,"doc":{"id":1,"name":"item-1"}}}',
        '{"captured":{"binding":0,"doc":{"id":2,"name":"item-2"}}}',
        checkpoint('{"bindingStateV1":{"items":{"backfill":{"cutoff":0,"next_page":2}}}}'),
        '{"captured":{"binding":0,"doc":{"id":3,"name":"item-3"}}}',
        '{"captured":{"binding":0,"doc":{"id":4,"name":"item-4"}}}',
        checkpoint('{"bindingStateV1":{"items":{"backfill":{"cutoff":0,"next_page":4}}}}'),
        '{"captured":{"binding":1,"doc":{"name":"a","_meta":{"op":"c","row_id":0}}}}',
        '{"captured":{"binding":1,"doc":{"name":"b","_meta":{"op":"c","row_id":1}}}}',
        '{"captured":{"binding":1,"doc":{"name":"c","_meta":{"op":"c","row_id":2}}}}',
        checkpoint(
            '{"bindingStateV1":{"snap":{"snapshot":{"updated_at":"2025-06-01T12:00:00Z","last_count":3,'
            f'"last_digest":"{digest}"}}}}}}}}'
        ),
        '{"captured":{"binding":0,"doc":{"id":5,"name":"item-5"}}}',
        checkpoint('{"bindingStateV1":{"items":{"backfill":null}}}'),
    ]
    # The snapshot digest is the xxh3-128 of the three captured lines.

    digest = xxhash.xxh3_128("".join(r.raw[14:17]).encode()).hexdigest()
    assert (
        r.lines[17]["checkpoint"]["state"]["updated"]["bindingStateV1"]["snap"]["snapshot"]["last_digest"]
        == digest
    )

    # A second session two hours later, from the reduced state: nothing left to backfill or
    # capture incrementally, and the snapshot (due again) is emitted once more with ops "u".
    state = reduce_state({}, r.lines)
    assert state["bindingStateV1"]["items"] == {
        "inc": {"cursor": 3},
        "last_initialized": "2025-06-01T12:00:00Z",
    }
    r2 = run(open_request([ITEMS, SNAP], state), now="2025-06-01T14:00:00Z")
    assert r2.rc == 0, r2.stderr[-3:]
    assert r2.raw[:4] == [
        '{"opened":{"explicitAcknowledgements":false}}',
        '{"captured":{"binding":1,"doc":{"name":"a","_meta":{"op":"u","row_id":0}}}}',
        '{"captured":{"binding":1,"doc":{"name":"b","_meta":{"op":"u","row_id":1}}}}',
        '{"captured":{"binding":1,"doc":{"name":"c","_meta":{"op":"u","row_id":2}}}}',
    ]
    assert len(r2.raw) == 5
    assert r2.lines[4]["checkpoint"]["state"]["updated"]["bindingStateV1"]["snap"]["snapshot"][
        "updated_at"
    ] == ("2025-06-01T14:00:00Z")


def test_explicit_acknowledgements() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "example_connector"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env(),
        cwd=TESTS_DIR,
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        proc.stdin.write(
            (json.dumps(open_request([EVENTS], {}, explicit_acks=True, items=4)) + "\n").encode()
        )
        proc.stdin.flush()
        out = LineReader(proc.stdout.fileno())
        got = [out.readline() for _ in range(2)]
        assert got == [
            '{"opened":{"explicitAcknowledgements":true}}',
            '{"checkpoint":{"state":{"updated":{"bindingStateV1":{"events":{"backfill":{"cutoff":0},'
            '"last_initialized":"2025-06-01T12:00:00Z"}}},"mergePatch":true}}}',
        ]
        expected_sequences = [
            [
                '{"captured":{"binding":0,"doc":{"id":1,"name":"item-1"}}}',
                '{"captured":{"binding":0,"doc":{"id":2,"name":"item-2"}}}',
                '{"checkpoint":{"state":{"updated":{"bindingStateV1":{"events":{"backfill":{"cutoff":0,"next_page":2}}}},"mergePatch":true}}}',
            ],
            [
                '{"captured":{"binding":0,"doc":{"id":3,"name":"item-3"}}}',
                '{"captured":{"binding":0,"doc":{"id":4,"name":"item-4"}}}',
                '{"checkpoint":{"state":{"updated":{"bindingStateV1":{"events":{"backfill":null}}},"mergePatch":true}}}',
            ],
        ]
        for seq in expected_sequences:
            # Until its checkpoint is acknowledged, the connector holds back the next one.
            assert out.idle_for(0.3)
            proc.stdin.write(b'{"acknowledge":{"checkpoints":1}}\n')
            proc.stdin.flush()
            assert [out.readline() for _ in seq] == seq
        assert out.idle_for(0.3)
        proc.stdin.write(b'{"acknowledge":{"checkpoints":1}}\n')
        proc.stdin.flush()
        assert proc.wait(timeout=30) == 0
        assert out.rest() == b""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_failing_fetch_function_exits_1_with_a_clear_last_line() -> None:
    r = run(open_request([ITEMS], {}, fail_at_page=2, changes=0))
    assert r.rc == 1
    last = r.stderr[-1]
    assert last["level"] == "ERROR"
    assert last["msg"] == "Task capture.items.backfill: boom in fetch_page at page 2"
    # Page 1 was committed before the failure; nothing of page 2 was written.
    assert [d["doc"]["id"] for d in committed_docs(r.lines)] == [1, 2]
    assert r.lines[-1]["checkpoint"]["state"]["updated"] == {
        "bindingStateV1": {"items": {"backfill": {"cutoff": 0, "next_page": 2}}}
    }


def test_restart_from_reduced_state_neither_loses_nor_reemits() -> None:
    bindings = [ITEMS]
    first = run(open_request(bindings, {}, items=9, changes=7, fail_at_page=3))
    assert first.rc == 1
    assert first.stderr[-1]["msg"] == "Task capture.items.backfill: boom in fetch_page at page 3"
    state = reduce_state({}, first.lines)
    assert state["bindingStateV1"]["items"]["backfill"] == {"cutoff": 0, "next_page": 4}

    second = run(open_request(bindings, state, items=9, changes=7))
    assert second.rc == 0, second.stderr[-3:]
    # A resumed session does not re-initialize anything.
    assert all("last_initialized" not in json.dumps(line) for line in second.lines)

    def ids(lines: list[dict[str, Any]]) -> list[int]:
        return [c["doc"]["id"] for c in committed_docs(lines) if c["binding"] == 0]

    everything = ids(first.lines) + ids(second.lines)
    assert sorted(everything) == list(range(1, 10)) + list(range(1001, 1008))  # each exactly once
    final = reduce_state(state, second.lines)
    assert final["bindingStateV1"]["items"] == {"inc": {"cursor": 7}, "last_initialized": NOW}


def test_backfill_trigger_round_trip() -> None:
    first = run(open_request([ITEMS], {}, items=2, changes=1, trigger_backfill=True))
    assert first.rc == 0, first.stderr[-3:]
    assert first.lines[-1]["checkpoint"]["state"]["updated"] == {"backfillRequests": {"items": True}}
    state = reduce_state({}, first.lines)
    assert state["backfillRequests"] == {"items": True}

    second = run(open_request([ITEMS], state, items=2, changes=1))
    assert second.rc == 0, second.stderr[-3:]
    assert second.raw[:3] == [
        '{"opened":{"explicitAcknowledgements":false}}',
        checkpoint('{"bindingStateV1":{"items":null},"backfillRequests":{"items":null}}'),
        checkpoint(
            '{"bindingStateV1":{"items":{"inc":{"cursor":0},"backfill":{"cutoff":0,"next_page":null},'
            '"last_initialized":"2025-06-01T12:00:00Z"}}}'
        ),
    ]
    final = reduce_state(state, second.lines)
    assert final == {
        "bindingStateV1": {"items": {"inc": {"cursor": 1}, "last_initialized": NOW}},
        "backfillRequests": {},
    }
    # The re-backfill captured everything again.
    assert sorted(c["doc"]["id"] for c in committed_docs(second.lines)) == [1, 2, 1001]
