"""The documents of `bench/cdk_emit.py`, shared by the connector and the raw orjson loop."""

from datetime import UTC, datetime
from typing import Any

CUTOFF = datetime(2025, 1, 1, tzinfo=UTC)
CREATED = datetime(2024, 6, 1, 12, 30, tzinfo=UTC)


def make_raw(i: int) -> dict[str, Any]:
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
        "created_at": CREATED,
        "updated_at": CUTOFF,
        "description": "A reasonably ordinary description of a document.",
        "views": i * 7,
    }
