"""The endpoint and resource configs of materialize-postgres, shaped as Estuary's (materialize-sql.md
§6): `address` (host[:port]), `user`, a password (the top-level `password`, or `credentials` of
type UserPassword), `database`, `schema`, `hardDelete` and `advanced.sslmode`. Unknown fields are
refused, so a misspelt setting is an error rather than silently ignored."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.json_schema import SkipJsonSchema

__all__ = ["DEFAULT_PORT", "Advanced", "EndpointConfig", "ResourceConfig", "UserPassword", "split_address"]

DEFAULT_PORT = 5432

SSLMode = Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]


def split_address(address: str) -> tuple[str, int]:
    """`host[:port]` (IPv6 hosts in brackets: `[::1]:5432`) as (host, port); ValueError says what
    is wrong with it."""
    text = address.strip()
    if not text:
        raise ValueError("is empty: expected host[:port]")
    if "/" in text or " " in text:
        raise ValueError(f"{address!r} is not host[:port] (no scheme, path or spaces)")
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        if not bracket or not host:
            raise ValueError(f"{address!r} has an unclosed '[': write an IPv6 host as [::1]:5432")
        if rest and not rest.startswith(":"):
            raise ValueError(f"{address!r}: expected ':port' after the bracketed host")
        port_text = rest[1:]
    elif text.count(":") > 1:
        raise ValueError(f"{address!r}: write an IPv6 host in brackets, as [::1]:5432")
    else:
        host, _, port_text = text.partition(":")
        if not host:
            raise ValueError(f"{address!r} has no host: expected host[:port]")
    if not port_text:
        return host, DEFAULT_PORT
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ValueError(f"{address!r} has port {port_text!r}: expected a number from 1 to 65535")
    return host, int(port_text)


def _optional(**annotations: Any) -> Callable[[dict[str, Any]], None]:
    """JSON schema extras of an optional field with no default value: its annotations, and no
    `"default": null` (the schema says what a value must be; leaving it out means unset)."""

    def extra(schema: dict[str, Any]) -> None:
        if schema.get("default", 0) is None:
            del schema["default"]
        schema.update(annotations)

    return extra


class UserPassword(BaseModel):
    model_config: ClassVar[ConfigDict] = ConfigDict(extra="forbid", title="User Password")

    auth_type: Literal["UserPassword"] = Field(default="UserPassword", json_schema_extra={"type": "string"})
    password: str = Field(
        title="Password",
        description="Password for the specified database user.",
        json_schema_extra={"secret": True},
    )


def _credentials_schema(schema: dict[str, Any]) -> None:
    """`credentials` as Estuary writes it: a oneOf of authentication methods told apart by
    `auth_type` (one method here), rather than pydantic's anyOf-with-null."""
    method = UserPassword.model_json_schema()
    method["properties"]["auth_type"] = {"type": "string", "const": "UserPassword", "default": "UserPassword"}
    schema.clear()
    schema.update(
        {
            "title": "Authentication",
            "description": "How to authenticate as the database user (instead of the top-level password).",
            "type": "object",
            "discriminator": {"propertyName": "auth_type"},
            "oneOf": [method],
            "order": 2,
        }
    )


class Advanced(BaseModel):
    model_config: ClassVar[ConfigDict] = ConfigDict(extra="forbid", title="Advanced Options")

    sslmode: SSLMode | SkipJsonSchema[None] = Field(
        default=None,
        title="SSL Mode",
        description="Overrides SSL connection behavior by setting the 'sslmode' parameter.",
        json_schema_extra=_optional(),
    )


class EndpointConfig(BaseModel):
    model_config: ClassVar[ConfigDict] = ConfigDict(extra="forbid", title="SQL Connection")

    address: str = Field(
        title="Address",
        description="Host and port of the database (in the form of host[:port]). Port 5432 is used as the "
        "default if no specific port is provided.",
        json_schema_extra={"order": 0},
    )
    user: str = Field(
        title="User",
        description="Database user to connect as.",
        min_length=1,
        json_schema_extra={"order": 1},
    )
    password: str | SkipJsonSchema[None] = Field(
        default=None,
        title="Password",
        description="Password for the specified database user (or give it in `credentials`).",
        json_schema_extra=_optional(secret=True, order=2),
    )
    credentials: UserPassword | None = Field(default=None, json_schema_extra=_credentials_schema)
    database: str | SkipJsonSchema[None] = Field(
        default=None,
        title="Database",
        description="Name of the logical database to materialize to (default: the server's default for the user).",
        json_schema_extra=_optional(order=3),
    )
    schema_: str = Field(
        default="public",
        alias="schema",
        title="Database Schema",
        description="Database schema for bound collection tables (unless overridden within the binding resource "
        "configuration) as well as associated materialization metadata tables",
        min_length=1,
        json_schema_extra={"order": 4},
    )
    hardDelete: bool = Field(
        default=False,
        title="Hard Delete",
        description="If this option is enabled items deleted in the source will also be deleted from the "
        "destination. By default is disabled and _meta/op in the destination will signify whether rows have "
        "been deleted (soft-delete).",
        json_schema_extra={"order": 5},
    )
    advanced: Advanced = Field(
        default_factory=Advanced,
        title="Advanced Options",
        description="Options for advanced users. You should not typically need to modify these.",
        json_schema_extra={"advanced": True},
    )

    @field_validator("address")
    @classmethod
    def _address(cls, value: str) -> str:
        split_address(value)
        return value.strip()

    @model_validator(mode="after")
    def _one_password(self) -> EndpointConfig:
        if (
            self.password is not None
            and self.credentials is not None
            and self.password != self.credentials.password
        ):
            raise ValueError(
                "`password` and `credentials.password` are both set and differ: give the password once"
            )
        return self

    @property
    def host_port(self) -> tuple[str, int]:
        return split_address(self.address)

    @property
    def secret(self) -> str | None:
        """The password to log in with, wherever it was given."""
        return self.credentials.password if self.credentials is not None else self.password

    @property
    def schema_name(self) -> str:
        return self.schema_


class ResourceConfig(BaseModel):
    model_config: ClassVar[ConfigDict] = ConfigDict(extra="forbid", title="SQL Table")

    table: str = Field(
        title="Table",
        description="Name of the database table",
        min_length=1,
        json_schema_extra={"x-collection-name": True},
    )
    schema_: str | SkipJsonSchema[None] = Field(
        default=None,
        alias="schema",
        title="Alternative Schema",
        description="Alternative schema for this table (optional)",
        min_length=1,
        json_schema_extra=_optional(**{"x-schema-name": True}),
    )
    delta_updates: bool = Field(
        default=False,
        title="Delta Update",
        description="Should updates to this table be done via delta updates. Default is false.",
        json_schema_extra={"x-delta-updates": True},
    )
    additional_table_create_sql: str = Field(
        default="",
        title="Additional Table Create SQL",
        description="Additional SQL statement(s) to be run in the same transaction that creates the table.",
        json_schema_extra={"multiline": True},
    )
