"""Capture protocol responses (connector -> runtime), serialized with `exclude_unset` so only
what the connector set is written."""

from __future__ import annotations

from typing import Any, Generic

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from ..flow import ConnectorSpec, ConnectorState, ConnectorStateUpdate, EndpointConfig, ResourceConfig

__all__ = [
    "Applied",
    "Captured",
    "Checkpoint",
    "Discovered",
    "DiscoveredBinding",
    "Opened",
    "Response",
    "SourcedSchema",
    "Validated",
    "ValidatedBinding",
]


class DiscoveredBinding(BaseModel, Generic[ResourceConfig]):
    recommendedName: str
    resourceConfig: ResourceConfig
    documentSchema: dict[str, Any]
    key: list[str]
    # The connector chose this key for lack of a natural identifier, so the user may change it
    # once the collection exists (the runtime then keeps the user's key).
    isFallbackKey: bool = False
    disable: bool = False


class Discovered(BaseModel, Generic[ResourceConfig]):
    bindings: list[DiscoveredBinding[ResourceConfig]]


class ValidatedBinding(BaseModel):
    resourcePath: list[str]


class Validated(BaseModel):
    bindings: list[ValidatedBinding]


class Applied(BaseModel):
    actionDescription: str


class Opened(BaseModel):
    explicitAcknowledgements: bool


class Captured(BaseModel):
    binding: int
    doc: Any


class SourcedSchema(BaseModel):
    """Written as `schema_json` (the proto field name, accepted by the runtime's decoder), like
    the reference kit; read from either that or the JSON name `documentSchema`."""

    model_config = ConfigDict(populate_by_name=True)

    binding: int
    schemaJson: dict[str, Any] = Field(
        alias="schema_json",
        validation_alias=AliasChoices("schema_json", "documentSchema", "schemaJson"),
    )


class Checkpoint(BaseModel, Generic[ConnectorState]):
    state: ConnectorStateUpdate[ConnectorState] | None = None


class Response(BaseModel, Generic[EndpointConfig, ResourceConfig, ConnectorState]):
    """One response line: exactly one member is set."""

    spec: ConnectorSpec | None = None
    discovered: Discovered[ResourceConfig] | None = None
    validated: Validated | None = None
    applied: Applied | None = None
    opened: Opened | None = None
    captured: Captured | None = None
    sourcedSchema: SourcedSchema | None = None
    checkpoint: Checkpoint[ConnectorState] | None = None
