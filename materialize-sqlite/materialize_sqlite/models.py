"""The endpoint and resource configs of materialize-sqlite."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field


class EndpointConfig(BaseModel):
    model_config: ClassVar[ConfigDict] = ConfigDict(extra="forbid")

    path: str = Field(
        title="Database file",
        description="Path of the SQLite database file; it is created when missing. A relative path is "
        "relative to the connector's working directory.",
        min_length=1,
    )
    hardDelete: bool = Field(
        default=False,
        title="Hard delete",
        description="Delete the row of a deleted document (else the row stays, with _meta/op = 'd').",
    )


class ResourceConfig(BaseModel):
    model_config: ClassVar[ConfigDict] = ConfigDict(extra="forbid")

    table: str = Field(
        title="Table",
        description="Name of the table to materialize into.",
        min_length=1,
        json_schema_extra={"x-collection-name": True},
    )
    delta_updates: bool = Field(
        default=False,
        title="Delta updates",
        description="Append each transaction's documents as new rows instead of keeping one row per key.",
        json_schema_extra={"x-delta-updates": True},
    )
