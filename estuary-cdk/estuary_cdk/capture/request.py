"""Capture protocol requests (runtime -> connector).

Unknown fields are ignored (the runtime adds fields over time) and fields proto3 JSON may omit
when they hold their default get that default. The endpoint and resource configs inside a
request are parsed by the connector's own models, which usually ignore unknown keys too: a
parsed `Request` remembers which keys of its configs no field took (`unknown_config_keys`), so
the connector can warn about each (a misspelt key otherwise silently becomes a default).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Generic

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeInt,
    PrivateAttr,
    model_validator,
)

# Its home since pydantic 2.0 (re-exported from `pydantic` only since 2.10).
from pydantic.functional_validators import ModelWrapValidatorHandler

from .._unknown_keys import UnknownKey, unknown_keys
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

    _unknown_config_keys: tuple[tuple[str, UnknownKey], ...] = PrivateAttr(default=())

    @model_validator(mode="wrap")
    @classmethod
    def _find_unknown_config_keys(cls, data: Any, handler: ModelWrapValidatorHandler[Any]) -> Any:
        request = handler(data)
        if isinstance(data, dict) and "acknowledge" not in data:  # acknowledgements carry no config
            request._unknown_config_keys = tuple(
                (where, key)
                for where, raw, parsed, is_resource in _configs(data, request)
                for key in unknown_keys(raw, parsed)
                # The control plane adds the resource path to resource configs as `_meta`.
                if not (is_resource and key.path == "_meta")
            )
        return request

    @property
    def unknown_config_keys(self) -> list[tuple[str, UnknownKey]]:
        """Keys of this request's endpoint and resource configs that no field of their models
        took, each with where it is ("endpoint config", "resource config of binding 0 (acmeCo/x)")."""
        return list(self._unknown_config_keys)


def _configs(raw: dict[str, Any], request: Request[Any, Any, Any]) -> Iterator[tuple[str, Any, Any, bool]]:
    """(where, raw JSON, parsed value, is a resource config) of each config in a request."""
    if request.discover is not None:
        yield "endpoint config", _get(raw, "discover", "config"), request.discover.config, False
        return
    spec: Any
    if request.validate_ is not None:
        spec_raw, spec = _get(raw, "validate") or _get(raw, "validate_"), request.validate_
    elif request.apply is not None:
        spec_raw, spec = _get(raw, "apply", "capture"), request.apply.capture
    elif request.open is not None:
        spec_raw, spec = _get(raw, "open", "capture"), request.open.capture
    else:
        return
    yield "endpoint config", _get(spec_raw, "config"), spec.config, False
    raw_bindings = _get(spec_raw, "bindings")
    if isinstance(raw_bindings, list):
        for i, (raw_binding, binding) in enumerate(zip(raw_bindings, spec.bindings, strict=False)):
            where = f"resource config of binding {i} ({binding.collection.name})"
            yield where, _get(raw_binding, "resourceConfig"), binding.resourceConfig, True


def _get(value: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value
