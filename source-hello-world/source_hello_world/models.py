"""Configuration, resource and document models of source-hello-world."""

from __future__ import annotations

from datetime import UTC, datetime

from estuary_cdk.capture import common
from estuary_cdk.capture.common import BaseDocument, ResourceConfig, ResourceState
from pydantic import AwareDatetime, BaseModel, Field

__all__ = ["ConnectorState", "EndpointConfig", "Greeting", "Language", "ResourceConfig", "ResourceState"]


class EndpointConfig(BaseModel):
    """Everything is generated locally, so the configuration only shapes the generated data."""

    greeting: str = Field(default="Hello", description="The word each greeting starts with.")
    name: str = Field(default="world", description="Who is greeted.")
    rate: float = Field(
        default=10.0,
        ge=0,
        description="Greetings per second captured incrementally; 0 generates them as fast as possible.",
    )
    count: int | None = Field(
        default=None,
        ge=0,
        description=(
            "Stop the capture once the greeting with this id has been captured (ids start at 1 and "
            "include the history). Unset: run until stopped."
        ),
    )
    history: int = Field(
        default=0,
        ge=0,
        description="Greetings that already exist when the capture starts; they are captured by a backfill.",
    )
    page_size: int = Field(default=100, ge=1, description="Greetings per backfill page.")
    start_at: AwareDatetime = Field(
        default=datetime(2024, 1, 1, tzinfo=UTC),
        description="Creation time of greeting 1; greeting n is created n seconds later.",
    )
    signing_key: str | None = Field(
        default=None,
        title="Signing Key",
        description="Optional secret: when set, every greeting carries an HMAC-SHA256 signature made with it.",
        json_schema_extra={"secret": True},
    )


class Greeting(BaseDocument):
    """One generated greeting; `id` is its key and the incremental cursor."""

    id: int
    message: str
    created_at: AwareDatetime
    signature: str | None = None


class Language(BaseDocument):
    """ "Hello" in one language: a small, static table captured as a periodic snapshot."""

    code: str
    hello: str


ConnectorState = common.ConnectorState[ResourceState]
