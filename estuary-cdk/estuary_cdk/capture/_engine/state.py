"""Capture state models: what the engine checkpoints under ``bindingStateV1.<stateKey>``.

Inner states are independent: the engine checkpoints partial ``ResourceState`` objects holding
only what changed, and relies on ``exclude_unset`` serialization plus the runtime's merge-patch
reduction to combine them.
"""

import abc
from datetime import datetime
from typing import Generic, TypeVar

from pydantic import AwareDatetime, BaseModel, Field

from .cursors import LogCursor, PageCursor


class BaseResourceState(abc.ABC, BaseModel, extra="forbid"):
    """Base of every per-binding state model."""


class ResourceState(BaseResourceState, extra="forbid"):
    """ResourceState composes separate incremental, backfill, and snapshot states.

    Each may instead be a dict of *subtask* states keyed by an arbitrary subtask id, for
    resources captured by several concurrent fetch functions.
    """

    class Incremental(BaseModel, extra="forbid"):
        """Progress of incremental (change log) capture."""

        cursor: LogCursor = Field(description="Cursor of the last-synced document in the logical log")

    class Backfill(BaseModel, extra="forbid"):
        """Progress of a backfill; absent or null once the backfill is complete."""

        cutoff: LogCursor = Field(description="LogCursor at which incremental replication began")
        next_page: PageCursor = Field(default=None, description="PageCursor of the next page to fetch")

    class Snapshot(BaseModel, extra="forbid"):
        """Progress of periodic full snapshots."""

        updated_at: AwareDatetime = Field(description="Time of the last snapshot")
        last_count: int = Field(
            description="Number of documents captured from this resource by the last snapshot"
        )
        last_digest: str = Field(
            description="The xxh3_128 hex digest of documents of this resource in the last snapshot"
        )

    inc: Incremental | dict[str, Incremental | None] | None = Field(
        default=None, description="Incremental capture progress"
    )
    backfill: Backfill | dict[str, Backfill | None] | None = Field(
        default=None, description="Backfill progress, or None if no backfill is occurring"
    )
    snapshot: Snapshot | dict[str, Snapshot | None] | None = Field(
        default=None, description="Snapshot progress"
    )
    last_initialized: datetime | None = Field(
        default=None, description="The last time this state was initialized."
    )
    is_connector_initiated: bool = Field(
        default=False,
        description="Whether the connector itself (not the user) initiated the current backfill.",
    )


RS = TypeVar("RS", bound=BaseResourceState)


class ConnectorState(BaseModel, Generic[RS], extra="forbid"):
    """ConnectorState holds one ResourceState per binding, keyed by binding state key."""

    bindingStateV1: dict[str, RS | None] = {}
    backfillRequests: dict[str, bool | None] = {}
    # Legacy field some early connectors stored; kept so their states still parse.
    refresh_token: str | None = None
