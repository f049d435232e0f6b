"""Materialize protocol responses (connector -> runtime; flow-protocol §3.2).

Written as proto3 JSON writes them: fields at their default value are left out (`to_json`).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from ..flow import OAuth2Spec
from .request import SerPolicy

__all__ = [
    "Acknowledged",
    "Applied",
    "ConnectorSpec",
    "ConnectorStateUpdate",
    "Constraint",
    "ConstraintType",
    "Flushed",
    "Opened",
    "StartedCommit",
    "Validated",
    "ValidatedBinding",
    "to_json",
]

ConstraintType = Literal[
    "FIELD_REQUIRED",
    "LOCATION_REQUIRED",
    "LOCATION_RECOMMENDED",
    "FIELD_OPTIONAL",
    "FIELD_FORBIDDEN",
    "INCOMPATIBLE",
]


class ConnectorSpec(BaseModel):
    """The body of a materialization's `spec` response (no resourcePathPointers: a
    materialization names its resources in `validated`)."""

    configSchema: dict[str, Any]
    resourceConfigSchema: dict[str, Any]
    documentationUrl: str
    oauth2: OAuth2Spec | None = None
    protocol: int = 0


class Constraint(BaseModel):
    type: ConstraintType
    reason: str = ""
    foldedField: str = ""


class ValidatedBinding(BaseModel):
    constraints: dict[str, Constraint] = Field(default_factory=dict)
    resourcePath: list[str]
    deltaUpdates: bool = False
    serPolicy: SerPolicy | None = None


class Validated(BaseModel):
    bindings: list[ValidatedBinding]


class ConnectorStateUpdate(BaseModel):
    """A connector state update: an RFC 7396 merge patch when `mergePatch`, else a replacement."""

    updated: dict[str, Any]
    mergePatch: bool = False


class Applied(BaseModel):
    actionDescription: str = ""
    state: ConnectorStateUpdate | None = None


class Opened(BaseModel):
    # The checkpoint to resume from when the destination is authoritative (it stores the
    # checkpoint with the data); None leaves it to the runtime's recovery log.
    runtimeCheckpoint: dict[str, Any] | None = None
    disableLoadOptimization: bool = False


class Flushed(BaseModel):
    state: ConnectorStateUpdate | None = None


class StartedCommit(BaseModel):
    state: ConnectorStateUpdate | None = None


class Acknowledged(BaseModel):
    state: ConnectorStateUpdate | None = None


def to_json(kind: str, body: BaseModel) -> bytes:
    """One response line, `{"<kind>":{...}}`, with default-valued fields left out."""
    return (
        b'{"'
        + kind.encode()
        + b'":'
        + body.model_dump_json(by_alias=True, exclude_defaults=True).encode()
        + b"}\n"
    )
