"""The build: turning a catalog capture into protocol specs (flow-protocol §4.1, §4.2, §7.5),
validated by the connector (internal Spec + Validate) with `stateKey`s derived from the
returned resource paths."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from .catalog import Capture, Catalog, Collection, Task
from .config_check import check_task_configs
from .connector import Launch, unary
from .errors import BuildError
from .keys import check_collection_key
from .logs import OpsLog, timestamp
from .projections import build_projections, partition_fields
from .state_key import encode_state_key

UUID_PLACEHOLDER = "DocUUIDPlaceholder-329Bb50aa48EAa9ef"
FULL_RANGE = {"keyEnd": 4294967295, "rClockEnd": 4294967295}


def collection_spec(collection: Collection, build_id: str) -> dict[str, Any]:
    projections = build_projections(collection)
    spec: dict[str, Any] = {"name": collection.name, "writeSchema": collection.write_schema}
    if collection.read_schema is not None:
        spec["readSchema"] = collection.read_schema
    spec.update(
        {
            "key": collection.key,
            "uuidPtr": "/_meta/uuid",
            **({"partitionFields": fields} if (fields := partition_fields(projections)) else {}),
            "projections": projections,
            "ackTemplate": {"_meta": {"ack": True, "uuid": UUID_PLACEHOLDER}},
            "partitionTemplate": {
                "name": f"{collection.name}/{build_id}",
                "replication": 3,
                "labels": {
                    "labels": [
                        {"name": "app.gazette.dev/managed-by", "value": "estuary.dev/flow"},
                        {"name": "content-type", "value": "application/x-ndjson"},
                        {"name": "estuary.dev/build", "value": build_id},
                        {"name": "estuary.dev/collection", "value": collection.name},
                    ]
                },
            },
        }
    )
    return spec


@dataclass
class BuiltBinding:
    index: int  # index among enabled bindings (the wire `binding`)
    collection: Collection
    resource: dict[str, Any]
    resource_path: list[str]
    backfill: int
    state_key: str


@dataclass
class BuiltCapture:
    capture: Capture
    spec_response: dict[str, Any]
    bindings: list[BuiltBinding]
    version: str
    capture_spec: dict[str, Any]


def task_build_id(task: Task, collections: list[Collection]) -> str:
    """A stable build id (the `version`): a digest of everything the task is built from."""
    h = hashlib.sha256()
    h.update(orjson.dumps(task.raw, option=orjson.OPT_SORT_KEYS, default=str))
    h.update(orjson.dumps(task.endpoint.config, option=orjson.OPT_SORT_KEYS, default=str))
    for c in collections:
        parts = [c.name, c.key, c.write_schema, c.read_schema, c.projections]
        h.update(orjson.dumps(parts, option=orjson.OPT_SORT_KEYS, default=str))
    return h.hexdigest()[:16]


def build_id_for(capture: Capture, catalog: Catalog) -> str:
    return task_build_id(capture, [catalog.collections[b.target] for b in capture.bindings])


def validate_request(
    capture: Capture, catalog: Catalog, connector_type: str, build_id: str
) -> dict[str, Any]:
    bindings = []
    for b in capture.bindings:
        if b.disable:
            continue
        entry: dict[str, Any] = {
            "resourceConfig": b.resource,
            "collection": collection_spec(catalog.collections[b.target], build_id),
        }
        if b.backfill:
            entry["backfill"] = b.backfill
        bindings.append(entry)
    return {
        "validate": {
            "name": capture.name,
            "connectorType": connector_type,
            "config": capture.endpoint.config,
            "bindings": bindings,
        }
    }


def check_validated(capture: Capture, response: dict[str, Any]) -> list[list[str]]:
    """Resource paths from a Validated response: one per enabled binding, non-empty, unique."""
    enabled = [b for b in capture.bindings if not b.disable]
    validated = response.get("validated")
    if not isinstance(validated, dict):
        raise BuildError(
            f"capture {capture.name}: connector protocol error (expected Validated): {orjson.dumps(response).decode()}"
        )
    got = validated.get("bindings") or []
    if len(got) != len(enabled):
        raise BuildError(
            f"capture {capture.name}: connector returned {len(got)} validated bindings, "
            f"but {len(enabled)} enabled bindings were sent (it must return exactly one per binding, in order)"
        )
    paths: list[list[str]] = []
    seen: dict[tuple[str, ...], int] = {}
    for i, (b, v) in enumerate(zip(enabled, got, strict=True)):
        path = v.get("resourcePath") if isinstance(v, dict) else None
        if not isinstance(path, list) or not path or not all(isinstance(p, str) and p for p in path):
            raise BuildError(
                f"capture {capture.name}: binding {i} (target {b.target}): connector returned an empty or "
                f"invalid resource path {orjson.dumps(path).decode()}; it must be a non-empty list of non-empty strings"
            )
        tup = tuple(path)
        if tup in seen:
            j = seen[tup]
            raise BuildError(
                f"capture {capture.name}: bindings {j} (target {enabled[j].target}) and {i} (target {b.target}) have "
                f"the same resource path {orjson.dumps(path).decode()}: each binding must capture a distinct resource"
            )
        seen[tup] = i
        paths.append(list(path))
    return paths


def capture_spec(
    capture: Capture, connector_type: str, bindings: list[BuiltBinding], build_id: str
) -> dict[str, Any]:
    wire_bindings = []
    for b in bindings:
        entry: dict[str, Any] = {
            "resourceConfig": b.resource,
            "resourcePath": b.resource_path,
            "collection": collection_spec(b.collection, build_id),
        }
        if b.backfill:
            entry["backfill"] = b.backfill
        entry["stateKey"] = b.state_key
        wire_bindings.append(entry)
    labels = [
        {"name": "app.gazette.dev/managed-by", "value": "estuary.dev/flow"},
        {"name": "estuary.dev/build", "value": build_id},
        {"name": "estuary.dev/log-level", "value": capture.log_level},
        {"name": "estuary.dev/task-name", "value": capture.name},
        {"name": "estuary.dev/task-type", "value": "capture"},
    ]
    return {
        "name": capture.name,
        "connectorType": connector_type,
        "config": capture.endpoint.config,
        "bindings": wire_bindings,
        "intervalSeconds": capture.interval_seconds,
        "shardTemplate": {"id": f"capture/{capture.name}/{build_id}", "labels": {"labels": labels}},
        "recoveryLogTemplate": {"name": f"recovery/capture/{capture.name}/{build_id}"},
    }


def check_capture_keys(capture: Capture, catalog: Catalog) -> None:
    """Before any connector runs: the keys of the collections the capture writes must be keys
    every document has (keys.py); a catalog error naming the file and the key otherwise."""
    for b in capture.bindings:
        if not b.disable:
            check_collection_key(catalog.collections[b.target])


async def build_capture(
    catalog: Catalog, capture: Capture, launch: Launch, on_log: Callable[[OpsLog], None]
) -> BuiltCapture:
    """Spec + Validate (fresh process) and assembly of the CaptureSpec sessions are opened with."""
    check_capture_keys(capture, catalog)

    def warn(text: str) -> None:
        on_log(OpsLog(timestamp(), "warn", text, {"source": "flowctl"}, plain=True))

    build_id = build_id_for(capture, catalog)
    request = validate_request(capture, catalog, launch.connector_type, build_id)
    # Configs are checked against the Spec's schemas before Validate carries them.
    spec, response = await unary(
        launch, request, "validated", on_log, check=lambda spec: check_task_configs(capture, spec, warn)
    )
    paths = check_validated(capture, response)
    enabled = [b for b in capture.bindings if not b.disable]
    built = [
        BuiltBinding(
            i, catalog.collections[b.target], b.resource, path, b.backfill, encode_state_key(path, b.backfill)
        )
        for i, (b, path) in enumerate(zip(enabled, paths, strict=True))
    ]
    return BuiltCapture(
        capture, spec, built, build_id, capture_spec(capture, launch.connector_type, built, build_id)
    )
