"""The workload of the materialization benchmarks: N documents of 15 fields, the collection and
materialization spec they belong to, and the protocol requests a runtime would send to store
them (open, then transactions of acknowledge / flush / store... / startCommit)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
from estuary_cdk.materialize.packed import pack

TXN_DOCS = 50_000
"""Documents per transaction (the runtime folds up to ~32 MiB of documents into one)."""

_FIELDS: dict[str, dict[str, Any]] = {
    "active": {"types": ["boolean"], "exists": "MUST"},
    "address": {"types": ["object"], "exists": "MUST"},
    "created_at": {"types": ["string"], "exists": "MUST", "string": {"format": "date-time"}},
    "description": {"types": ["string"], "exists": "MUST"},
    "email": {"types": ["string"], "exists": "MUST"},
    "name": {"types": ["string"], "exists": "MUST"},
    "parent_id": {"types": ["integer", "null"], "exists": "MAY"},
    "score": {"types": ["number"], "exists": "MUST"},
    "status": {"types": ["string"], "exists": "MUST"},
    "tags": {"types": ["array"], "exists": "MUST"},
    "updated_at": {"types": ["string"], "exists": "MUST", "string": {"format": "date-time"}},
    "version": {"types": ["integer"], "exists": "MUST"},
    "views": {"types": ["integer"], "exists": "MUST"},
}
VALUE_FIELDS = sorted([*_FIELDS, "_meta/op", "flow_published_at"])
PUBLISHED_AT = "2024-06-01T12:30:00.000000000Z"


def document(i: int) -> dict[str, Any]:
    return {
        "id": i,
        "name": f"item {i}",
        "email": f"user{i}@example.com",
        "score": i * 0.5,
        "active": i % 2 == 0,
        "status": "open",
        "version": 3,
        "parent_id": i - 1 if i else None,
        "tags": ["a", "b"],
        "address": {"street": "1 Main St", "city": "Springfield", "zip": "12345"},
        "created_at": "2024-06-01T12:30:00Z",
        "updated_at": "2025-01-01T00:00:00Z",
        "description": "A reasonably ordinary description of a document.",
        "views": i * 7,
        "_meta": {"op": "c", "uuid": "9a3f5e00-2010-11ef-8000-071353030311"},
    }


def values(doc: dict[str, Any]) -> list[Any]:
    """The packed values of a document, as the runtime extracts them (fieldSelection.values)."""
    out: list[Any] = []
    for field in VALUE_FIELDS:
        if field == "_meta/op":
            out.append(doc["_meta"]["op"])
        elif field == "flow_published_at":
            out.append(PUBLISHED_AT)
        else:
            v = doc[field]
            out.append(orjson.dumps(v) if isinstance(v, dict | list) else v)
    return out


def collection() -> dict[str, Any]:
    projections = [
        {
            "ptr": "/id",
            "field": "id",
            "isPrimaryKey": True,
            "inference": {"types": ["integer"], "exists": "MUST"},
        },
        {"field": "flow_document", "inference": {"types": ["object"], "exists": "MUST"}},
        {"ptr": "/_meta/op", "field": "_meta/op", "inference": {"types": ["string"], "exists": "MUST"}},
        {
            "ptr": "/_meta/uuid",
            "field": "flow_published_at",
            "inference": {"types": ["string"], "exists": "MUST", "string": {"format": "date-time"}},
        },
    ]
    projections += [{"ptr": f"/{f}", "field": f, "inference": inf} for f, inf in _FIELDS.items()]
    return {
        "name": "bench/items",
        "key": ["/id"],
        "writeSchema": {"type": "object"},
        "projections": projections,
    }


def materialization(config: dict[str, Any], resource: dict[str, Any], path: list[str]) -> dict[str, Any]:
    return {
        "name": "bench/to-db",
        "config": config,
        "bindings": [
            {
                "resourceConfig": resource,
                "resourcePath": path,
                "collection": collection(),
                "fieldSelection": {"keys": ["id"], "values": VALUE_FIELDS, "document": "flow_document"},
                "stateKey": "items",
            }
        ],
    }


def _b64(values: list[Any]) -> bytes:
    return base64.b64encode(pack(values))


def session_requests(spec: dict[str, Any], count: int) -> Iterator[bytes]:
    """Open, then transactions storing documents 1..count (new keys: no loads), then a final
    acknowledge; the connector exits when the input ends."""
    yield orjson.dumps(
        {
            "open": {
                "materialization": spec,
                "version": "bench",
                "range": {"keyEnd": 4294967295, "rClockEnd": 4294967295},
            }
        }
    )
    txn = 0
    for start in range(1, count + 1, TXN_DOCS):
        txn += 1
        yield b'{"acknowledge":{}}'
        yield b'{"flush":{}}'
        for i in range(start, min(start + TXN_DOCS, count + 1)):
            doc = document(i)
            yield (
                b'{"store":{"binding":0,"keyPacked":"' + _b64([i]) + b'","valuesPacked":"' + _b64(values(doc))
                + b'","doc":' + orjson.dumps(doc) + b"}}"
            )  # fmt: skip
        yield orjson.dumps(
            {"startCommit": {"runtimeCheckpoint": {"sources": {"bench": {"readThrough": str(txn)}}}}}
        )
    yield b'{"acknowledge":{}}'


def write_inputs(work: Path, spec: dict[str, Any], count: int) -> tuple[Path, Path]:
    """The connector's request file and the raw loop's / dlt's document file (one JSON per line)."""
    requests, docs = work / f"requests-{count}.jsonl", work / f"docs-{count}.jsonl"
    with requests.open("wb") as out:
        for line in session_requests(spec, count):
            out.write(line + b"\n")
    with docs.open("wb") as out:
        for i in range(1, count + 1):
            out.write(orjson.dumps(document(i)) + b"\n")
    return requests, docs
