"""Materialize protocol requests (runtime -> connector; flow-protocol §3.1) and the specs they
carry (§4.3).

Unary requests and the control messages of a transaction are parsed into these models. The
per-document requests (`load`, `store`) are not: the transaction loop decodes them directly from
their JSON (see `session.py`), because validating a model per document would cost more than the
database spends storing it. Unknown fields are ignored, omitted proto3 defaults filled in.
"""

from __future__ import annotations

from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, model_validator

from ..flow import CollectionSpec, RangeSpec, empty_state_when_omitted

__all__ = [
    "Acknowledge",
    "Apply",
    "ConnectorType",
    "FieldSelection",
    "Flush",
    "MaterializationBinding",
    "MaterializationSpec",
    "Open",
    "Request",
    "SerPolicy",
    "Spec",
    "StartCommit",
    "Validate",
    "ValidateBinding",
]

EndpointConfig = TypeVar("EndpointConfig")
ResourceConfig = TypeVar("ResourceConfig")

ConnectorType = Literal["IMAGE", "LOCAL", "DEKAF"]


class SerPolicy(BaseModel):
    """How the runtime truncates documents and values it sends to a binding (0 = never)."""

    strTruncateAfter: NonNegativeInt = 0
    nestedObjTruncateAfter: NonNegativeInt = 0
    arrayTruncateAfter: NonNegativeInt = 0


class FieldSelection(BaseModel):
    """The fields a binding materializes: `keys` (the order of a packed key), `values` (the order
    of packed values) and `document` (the root-document field, "" for none)."""

    keys: list[str] = Field(default_factory=list)
    values: list[str] = Field(default_factory=list)
    document: str = ""
    fieldConfig: dict[str, Any] = Field(default_factory=dict)

    @property
    def all_fields(self) -> list[str]:
        """Keys, values, then the document: the columns of a table, in order."""
        return [*self.keys, *self.values, *([self.document] if self.document else [])]


class MaterializationBinding(BaseModel, Generic[ResourceConfig]):
    resourceConfig: ResourceConfig
    resourcePath: list[str] = Field(default_factory=list)
    collection: CollectionSpec
    partitionSelector: dict[str, Any] = Field(default_factory=dict)
    priority: NonNegativeInt = 0
    fieldSelection: FieldSelection = Field(default_factory=FieldSelection)
    deltaUpdates: bool = False
    journalReadSuffix: str = ""
    backfill: NonNegativeInt = 0
    stateKey: str = ""
    serPolicy: SerPolicy | None = None


class MaterializationSpec(BaseModel, Generic[EndpointConfig, ResourceConfig]):
    name: str
    connectorType: ConnectorType = "IMAGE"
    config: EndpointConfig
    bindings: list[MaterializationBinding[ResourceConfig]] = Field(default_factory=list)
    # Bindings removed from the spec (by resource path): they still constrain a later Validate.
    inactiveBindings: list[MaterializationBinding[dict[str, Any]]] = Field(default_factory=list)


class Spec(BaseModel):
    connectorType: ConnectorType = "IMAGE"
    config: dict[str, Any] = Field(default_factory=dict)


class ValidateBinding(BaseModel, Generic[ResourceConfig]):
    resourceConfig: ResourceConfig
    collection: CollectionSpec
    fieldConfig: dict[str, Any] = Field(default_factory=dict)
    backfill: NonNegativeInt = 0
    groupBy: list[str] = Field(default_factory=list)


class Validate(BaseModel, Generic[EndpointConfig, ResourceConfig]):
    name: str
    connectorType: ConnectorType = "IMAGE"
    config: EndpointConfig
    bindings: list[ValidateBinding[ResourceConfig]] = Field(default_factory=list)
    # The last published spec, if any. Its configs are kept as plain JSON: they may no longer
    # parse under today's models.
    lastMaterialization: MaterializationSpec[dict[str, Any], dict[str, Any]] | None = None
    lastVersion: str = ""


class Apply(BaseModel, Generic[EndpointConfig, ResourceConfig]):
    materialization: MaterializationSpec[EndpointConfig, ResourceConfig]
    version: str = ""
    lastMaterialization: MaterializationSpec[dict[str, Any], dict[str, Any]] | None = None
    lastVersion: str = ""
    state: dict[str, Any] = Field(default_factory=dict)


class Open(BaseModel, Generic[EndpointConfig, ResourceConfig]):
    materialization: MaterializationSpec[EndpointConfig, ResourceConfig]
    version: str = ""
    range: RangeSpec = Field(default_factory=RangeSpec)
    state: dict[str, Any] = Field(default_factory=dict)

    _empty_state = model_validator(mode="before")(empty_state_when_omitted)


class Acknowledge(BaseModel):
    pass


class Flush(BaseModel):
    pass


class StartCommit(BaseModel):
    runtimeCheckpoint: dict[str, Any] = Field(default_factory=dict)


class Request(BaseModel, Generic[EndpointConfig, ResourceConfig]):
    """One unary request line, or `open`. `validate` is `validate_` in Python because
    `BaseModel.validate` exists."""

    model_config = ConfigDict(populate_by_name=True)

    spec: Spec | None = None
    validate_: Validate[EndpointConfig, ResourceConfig] | None = Field(default=None, alias="validate")
    apply: Apply[EndpointConfig, ResourceConfig] | None = None
    open: Open[EndpointConfig, ResourceConfig] | None = None
