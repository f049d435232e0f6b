"""Capture protocol requests (runtime -> connector).

Unknown fields are ignored (the runtime adds fields over time) and fields proto3 JSON may omit
when they hold their default get that default.
"""

from __future__ import annotations

from typing import Any, Generic

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, model_validator

from ..flow import (
    CaptureSpec,
    CollectionSpec,
    ConnectorState,
    ConnectorType,
    EndpointConfig,
    RangeSpec,
    ResourceConfig,
    empty_state_when_omitted,
)

__all__ = [
    "REQUEST_KINDS",
    "Acknowledge",
    "Apply",
    "Discover",
    "Open",
    "Request",
    "Spec",
    "Validate",
    "ValidateBase",
    "ValidateBinding",
    "ValidateLastCapture",
    "ValidateLastCaptureEndpointConfig",
]

REQUEST_KINDS = ("spec", "discover", "validate", "apply", "open", "acknowledge")


class Spec(BaseModel):
    connectorType: ConnectorType = "IMAGE"


class Discover(BaseModel, Generic[EndpointConfig]):
    connectorType: ConnectorType = "IMAGE"
    config: EndpointConfig


class ValidateBinding(BaseModel, Generic[ResourceConfig]):
    collection: CollectionSpec
    resourceConfig: ResourceConfig
    backfill: NonNegativeInt = 0


class ValidateBase(BaseModel, Generic[ResourceConfig]):
    name: str
    connectorType: ConnectorType = "IMAGE"
    bindings: list[ValidateBinding[ResourceConfig]] = Field(default_factory=list)


class ValidateLastCaptureEndpointConfig(BaseModel):
    """The previously published endpoint config, as a raw (possibly still encrypted) dict."""

    config: dict[str, Any]


class ValidateLastCapture(ValidateBase[ResourceConfig], Generic[EndpointConfig, ResourceConfig]):
    config: ValidateLastCaptureEndpointConfig


class Validate(ValidateBase[ResourceConfig], Generic[EndpointConfig, ResourceConfig]):
    config: EndpointConfig
    lastCapture: ValidateLastCapture[EndpointConfig, ResourceConfig] | None = None


class Apply(BaseModel, Generic[EndpointConfig, ResourceConfig]):
    capture: CaptureSpec[EndpointConfig, ResourceConfig]
    version: str = ""


class Open(BaseModel, Generic[EndpointConfig, ResourceConfig, ConnectorState]):
    capture: CaptureSpec[EndpointConfig, ResourceConfig]
    version: str = ""
    range: RangeSpec = Field(default_factory=RangeSpec)
    state: ConnectorState

    _empty_state = model_validator(mode="before")(empty_state_when_omitted)


class Acknowledge(BaseModel):
    checkpoints: NonNegativeInt = 0


class Request(BaseModel, Generic[EndpointConfig, ResourceConfig, ConnectorState]):
    """One request line: exactly one of the members is set. `validate` is `validate_` in Python
    because `BaseModel.validate` exists."""

    model_config = ConfigDict(populate_by_name=True)

    spec: Spec | None = None
    discover: Discover[EndpointConfig] | None = None
    validate_: Validate[EndpointConfig, ResourceConfig] | None = Field(default=None, alias="validate")
    apply: Apply[EndpointConfig, ResourceConfig] | None = None
    open: Open[EndpointConfig, ResourceConfig, ConnectorState] | None = None
    acknowledge: Acknowledge | None = None
