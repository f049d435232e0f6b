"""Flow protocol spec models shared by every request and response, plus the credential models.

These are *wire* models: field names are the protocol's JSON names, so they are camelCase on
purpose. Inputs are parsed leniently (unknown fields ignored, proto3-omitted defaults filled in)
because the runtime adds fields over time; outputs are dumped with `exclude_unset` so only what a
connector set goes on the wire.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, Field, NonNegativeInt

from ._credentials import (
    AccessToken,
    AuthorizationCodeFlowOAuth2Credentials,
    BaseOAuth2Credentials,
    BasicAuth,
    ClientCredentialsOAuth2Credentials,
    GoogleServiceAccount,
    GoogleServiceAccountSpec,
    LongLivedClientCredentialsOAuth2Credentials,
    OAuth2ClientCredentialsPlacement,
    OAuth2Spec,
    OAuth2TokenFlowSpec,
    ResourceOwnerPasswordOAuth2Credentials,
    RotatingOAuth2Credentials,
)
from ._credentials import (
    _BaseOAuth2CredentialsData as _BaseOAuth2CredentialsData,  # compatibility name (see _compat)
)

__all__ = [
    "PROTOCOL_VERSION",
    "AccessToken",
    "AuthorizationCodeFlowOAuth2Credentials",
    "BaseOAuth2Credentials",
    "BasicAuth",
    "CaptureBinding",
    "CaptureSpec",
    "Checkpoint",
    "CheckpointSource",
    "ClientCredentialsOAuth2Credentials",
    "CollectionSpec",
    "ConnectorSpec",
    "ConnectorState",
    "ConnectorStateUpdate",
    "ConnectorType",
    "EndpointConfig",
    "GoogleServiceAccount",
    "GoogleServiceAccountSpec",
    "Inference",
    "LongLivedClientCredentialsOAuth2Credentials",
    "OAuth2ClientCredentialsPlacement",
    "OAuth2Spec",
    "OAuth2TokenFlowSpec",
    "Projection",
    "RangeSpec",
    "ResourceConfig",
    "ResourceOwnerPasswordOAuth2Credentials",
    "RotatingOAuth2Credentials",
    "UUIDParts",
    "ValidationError",
]

PROTOCOL_VERSION = 3032023
"""The capture protocol version every `spec` response must carry (connector-init checks it)."""

ConnectorType = Literal["IMAGE", "LOCAL"]

EndpointConfig = TypeVar("EndpointConfig")
"""The connector's endpoint configuration model (or a plain dict)."""

ResourceConfig = TypeVar("ResourceConfig", bound=BaseModel)
"""The connector's per-binding resource configuration model."""

ConnectorState = TypeVar("ConnectorState", bound=BaseModel)
"""The connector's state model, reduced by the runtime from checkpoint merge patches."""


class StringInference(BaseModel):
    contentType: str = ""
    format: str = ""
    contentEncoding: str = ""
    maxLength: int = 0


class NumericInference(BaseModel):
    hasMinimum: bool = False
    minimum: float = 0
    hasMaximum: bool = False
    maximum: float = 0


class ArrayInference(BaseModel):
    minItems: int = 0
    hasMaxItems: bool = False
    maxItems: int = 0
    itemTypes: list[str] = Field(default_factory=list)


class Inference(BaseModel):
    """What the collection's schema says of one location (flow.proto `Inference`)."""

    types: list[str] = Field(default_factory=list)
    string: StringInference | None = None
    title: str = ""
    description: str = ""
    default: Any = None
    secret: bool = False
    exists: str = "INVALID"
    """MUST, MAY, IMPLICIT or CANNOT (a string, so a value added later parses too)."""
    numeric: NumericInference | None = None
    array: ArrayInference | None = None


class Projection(BaseModel):
    """A field of a collection: a name for the document location `ptr` ("" is the root)."""

    ptr: str = ""
    field: str
    explicit: bool = False
    isPartitionKey: bool = False
    isPrimaryKey: bool = False
    inference: Inference = Field(default_factory=Inference)


def empty_state_when_omitted(data: Any) -> Any:
    """For an `open` request's model validator: proto3 JSON may omit an empty `state`, and a new
    task's state is `{}`."""
    if isinstance(data, dict) and data.get("state") is None:
        data = {**data, "state": {}}
    return data


class CollectionSpec(BaseModel):
    """The subset of a collection spec the kit reads; every other field is ignored."""

    name: str
    key: list[str] = Field(default_factory=list)
    writeSchema: dict[str, Any] = Field(default_factory=dict)
    readSchema: dict[str, Any] | None = None
    projections: list[Projection] = Field(default_factory=list)
    uuidPtr: str = ""

    def projection(self, field: str) -> Projection | None:
        """The projection named `field`, or None."""
        for p in self.projections:
            if p.field == field:
                return p
        return None


class CaptureBinding(BaseModel, Generic[ResourceConfig]):
    collection: CollectionSpec
    resourceConfig: ResourceConfig
    resourcePath: list[str] = Field(default_factory=list)
    stateKey: str = ""
    backfill: NonNegativeInt = 0


class CaptureSpec(BaseModel, Generic[EndpointConfig, ResourceConfig]):
    name: str
    connectorType: ConnectorType = "IMAGE"
    config: EndpointConfig
    intervalSeconds: NonNegativeInt = 0
    bindings: list[CaptureBinding[ResourceConfig]] = Field(default_factory=list)


class RangeSpec(BaseModel):
    """Key and r-clock range of a shard; captures always run over the full range today."""

    keyBegin: int = 0
    keyEnd: int = 0xFFFFFFFF
    rClockBegin: int = 0
    rClockEnd: int = 0xFFFFFFFF


class UUIDParts(BaseModel):
    node: str
    clock: str


class CheckpointSource(BaseModel):
    readThrough: str
    producers: list[UUIDParts] = Field(default_factory=list)


class Checkpoint(BaseModel):
    """A runtime consumer checkpoint (legacy; kept so reference imports resolve)."""

    sources: dict[str, CheckpointSource] = Field(default_factory=dict)
    ackIntents: dict[str, str] = Field(default_factory=dict)


class ConnectorSpec(BaseModel):
    """The body of a `spec` response. `protocol` is forced to `PROTOCOL_VERSION` on emission."""

    configSchema: dict[str, Any]
    resourceConfigSchema: dict[str, Any]
    documentationUrl: str
    resourcePathPointers: list[str]
    oauth2: OAuth2Spec | None = None
    protocol: int = 0


class ConnectorStateUpdate(BaseModel, Generic[ConnectorState]):
    """`checkpoint.state`: `updated` is an RFC 7396 merge patch when `mergePatch` is true."""

    updated: ConnectorState
    mergePatch: bool


@dataclass
class ValidationError(Exception):
    """User-facing problems with a config or binding, reported together and without a traceback.

    Raise it from `discover`/`validate` (or anywhere) with every problem found, so a user can fix
    them all in one round trip.
    """

    errors: list[str]

    def __str__(self) -> str:
        if len(self.errors) == 1:
            return self.errors[0]
        return "Multiple validation errors:\n" + "\n".join(f" - {e}" for e in self.errors)
