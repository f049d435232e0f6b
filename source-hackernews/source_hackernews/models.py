"""Configuration, resource and document models of the Hacker News connector."""

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, ClassVar

from estuary_cdk.capture.common import (
    BaseDocument,
    ResourceState,
)
from estuary_cdk.capture.common import (
    ConnectorState as GenericConnectorState,
)
from estuary_cdk.capture.common import (
    ResourceConfig as BaseResourceConfig,
)
from pydantic import AwareDatetime, BaseModel, Field, field_validator, model_validator

PUBLIC_API = "https://hacker-news.firebaseio.com"

STORY_LISTS: tuple[str, ...] = (
    "topstories",
    "newstories",
    "beststories",
    "askstories",
    "showstories",
    "jobstories",
)


class EndpointConfig(BaseModel):
    """The capture's endpoint configuration. Hacker News needs no credentials."""

    base_url: str = Field(
        default=PUBLIC_API,
        title="API Base URL",
        description="Root of the Hacker News API (v0 is appended). Point it at a mirror or a local test server.",
        pattern="^https?://",
    )
    concurrency: int = Field(
        default=32,
        ge=1,
        le=256,
        title="Concurrency",
        description="How many item requests may be in flight at once.",
    )
    start_id: int | None = Field(
        default=None,
        ge=1,
        title="Start Item ID",
        description="Backfill items from this id instead of 1, to capture recent history only.",
    )
    start_date: AwareDatetime | None = Field(
        default=None,
        title="Start Date",
        description="Backfill items created at or after this time (UTC, RFC 3339). Ignored when a Start Item ID is set.",
    )
    capture_item_authors: bool = Field(
        default=False,
        title="Capture Authors of New Items",
        description="Also capture the user profile of the author of every item seen by incremental capture.",
    )

    @field_validator("base_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")


class ResourceConfig(BaseResourceConfig):
    """A binding's resource: its name plus the polling interval (the guide's shape)."""

    PATH_POINTERS: ClassVar[list[str]] = ["/name"]

    name: str = Field(description="Name of this resource")
    interval: timedelta = Field(
        default=timedelta(minutes=5),
        description="Interval between updates for this resource",
        json_schema_extra={"nonsensitive": True},
    )


ConnectorState = GenericConnectorState[ResourceState]


def _from_unix(value: Any) -> Any:
    """The API gives Unix seconds; documents carry RFC 3339 timestamps."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, tz=UTC)
    return value


class Item(BaseDocument, extra="allow"):
    """A story, comment, job, poll or pollopt. Deleted items keep their id and carry
    `deleted: true`: they are documents, not deletions, so their history is kept."""

    id: int
    type: str | None = Field(
        default=None,
        description="story, comment, job, poll or pollopt (not enforced: a new kind must not stop the capture)",
    )
    by: str | None = None
    time: AwareDatetime | None = None
    deleted: bool | None = None
    dead: bool | None = None

    @field_validator("time", mode="before")
    @classmethod
    def _unix_time(cls, value: Any) -> Any:
        return _from_unix(value)


class User(BaseDocument, extra="allow"):
    """A user profile."""

    id: str
    created: AwareDatetime | None = None
    karma: int | None = None

    @field_validator("created", mode="before")
    @classmethod
    def _unix_created(cls, value: Any) -> Any:
        return _from_unix(value)


class UpdatesFeed(BaseDocument, extra="allow"):
    """One observation of `/v0/updates.json`, keyed by when it was read."""

    fetched_at: AwareDatetime
    items: list[int] = []
    profiles: list[str] = []


class StoryRank(BaseDocument):
    """One entry of a story list. The collection is keyed on `/_meta/row_id` (the rank - 1),
    so a tombstone is emitted for every rank that disappears when a list gets shorter."""

    rank: Annotated[int | None, Field(ge=1)] = None
    id: int | None = None

    @model_validator(mode="after")
    def _rank_and_id_together(self) -> "StoryRank":
        if (self.rank is None) != (self.id is None):
            raise ValueError("a story rank needs both rank and id (or neither, for a tombstone)")
        return self
