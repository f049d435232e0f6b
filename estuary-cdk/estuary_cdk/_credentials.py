"""OAuth2 specs and credential models shared by connector configs and the HTTP layer.

These models are the *wire shape* of a connector's `credentials` config block, so their JSON
schemas are a compatibility contract with the Flow UI and control plane: every secret field
carries `"secret": true` (the control plane encrypts it, the kit redacts it from logs), every
model carries a `credentials_title` literal used as the pydantic/JSON-schema discriminator, and
OAuth2 models built with `for_provider` carry `"x-oauth2-provider"` so the UI knows which
authorization flow to run.

This module deliberately imports only pydantic and the standard library: `estuary_cdk.flow`
re-exports it and `estuary_cdk.http` consumes it, so it must sit below both.

Credential models are documented with comments rather than docstrings: pydantic copies a class
docstring into the JSON schema as `description`, which would change the emitted config schemas.
"""

from __future__ import annotations

import abc
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar, Literal, TypeVar, cast

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "AccessToken",
    "AuthorizationCodeFlowOAuth2Credentials",
    "BaseOAuth2Credentials",
    "BasicAuth",
    "ClientCredentialsOAuth2Credentials",
    "GoogleServiceAccount",
    "GoogleServiceAccountSpec",
    "LongLivedClientCredentialsOAuth2Credentials",
    "OAuth2ClientCredentialsPlacement",
    "OAuth2Spec",
    "OAuth2TokenFlowSpec",
    "ResourceOwnerPasswordOAuth2Credentials",
    "RotatingOAuth2Credentials",
    "secret_field_values",
]

_SECRET: dict[str, Any] = {"secret": True}


def _secret(title: str, **extra: Any) -> Any:
    """A required secret string field. `repr=False` keeps it out of `repr()`/`str()` of the
    model, so an accidentally logged credentials object doesn't leak it either."""
    return Field(title=title, repr=False, json_schema_extra={**_SECRET, **extra})


class OAuth2ClientCredentialsPlacement(StrEnum):
    """Where a token exchange sends `client_id`/`client_secret`: an HTTP Basic `Authorization`
    header (RFC 6749 §2.3.1 `client_secret_basic`) or the form body (`client_secret_post`)."""

    HEADERS = "headers"
    FORM = "form"


class OAuth2TokenFlowSpec(BaseModel):
    """A connector-internal token endpoint description for client-credentials style exchanges.
    Never emitted in a spec response."""

    accessTokenResponseMap: dict[str, str]
    accessTokenUrlTemplate: str
    additionalTokenExchangeBody: dict[str, str | int] = Field(default_factory=dict)


class OAuth2Spec(BaseModel):
    """The OAuth2 authorization-code flow emitted in `spec.oauth2`.

    The templates are rendered by the Flow control plane (mustache syntax such as
    `{{{ client_id }}}`); the kit itself uses `accessTokenUrlTemplate` literally for refreshes.
    `additionalTokenExchangeBody` is extra form fields the kit adds to *its* token exchanges; it is
    an implementation detail of the connector, so it is never serialized into the spec.
    """

    provider: str
    accessTokenBody: str
    authUrlTemplate: str
    accessTokenHeaders: dict[str, str]
    accessTokenResponseMap: dict[str, str]
    accessTokenUrlTemplate: str
    additionalTokenExchangeBody: dict[str, str | int] = Field(default_factory=dict, exclude=True)


class AccessToken(BaseModel):
    # A long-lived bearer token or API key (e.g. a "private app" token).

    credentials_title: Literal["Private App Credentials"] = Field(
        default="Private App Credentials", json_schema_extra={"type": "string"}
    )
    access_token: str = _secret("Access Token")


class BasicAuth(BaseModel):
    # HTTP Basic authentication.

    credentials_title: Literal["Username & Password"] = Field(
        default="Username & Password", json_schema_extra={"type": "string"}
    )
    username: str
    password: str = _secret("Password")


_C = TypeVar("_C", bound="_BaseOAuth2CredentialsData")


class _BaseOAuth2CredentialsData(abc.ABC, BaseModel):
    # Fields and class-level switches shared by every OAuth2 credential model.
    #
    # `grant_type` is the RFC 6749 grant the kit uses when it exchanges these credentials for an
    # access token (`None`: the kit never exchanges them). `client_credentials_placement` picks
    # header vs. form for the client credentials in that exchange; change it with
    # `with_client_credentials_placement`, never by mutating the class.
    #

    model_config = ConfigDict(title="OAuth")

    grant_type: ClassVar[str | None] = None
    client_credentials_placement: ClassVar[OAuth2ClientCredentialsPlacement] = (
        OAuth2ClientCredentialsPlacement.FORM
    )

    credentials_title: Literal["OAuth Credentials"] = Field(
        default="OAuth Credentials", json_schema_extra={"type": "string"}
    )
    client_id: str = _secret("Client Id")
    client_secret: str = _secret("Client Secret")

    @classmethod
    def for_provider(cls: type[_C], provider: str) -> type[_C]:
        """A concrete subclass (same class name) whose schema names the OAuth2 `provider` the
        Flow UI must run. Abstract credential classes can only be instantiated through it, which
        guarantees every config schema using them carries `x-oauth2-provider`."""
        namespace: dict[str, Any] = {
            "__module__": cls.__module__,
            "__qualname__": cls.__qualname__,
            "model_config": ConfigDict(title="OAuth", json_schema_extra={"x-oauth2-provider": provider}),
            "_you_must_build_oauth2_credentials_for_a_provider": _provider_marker,
        }
        return _subclass(cls, namespace)

    @classmethod
    def with_client_credentials_placement(
        cls: type[_C], placement: OAuth2ClientCredentialsPlacement
    ) -> type[_C]:
        """A subclass (same class name and schema) sending client credentials per `placement`."""
        namespace: dict[str, Any] = {
            "__module__": cls.__module__,
            "__qualname__": cls.__qualname__,
            "__annotations__": {"client_credentials_placement": ClassVar[OAuth2ClientCredentialsPlacement]},
            "client_credentials_placement": OAuth2ClientCredentialsPlacement(placement),
        }
        return _subclass(cls, namespace)


def _subclass(cls: type[_C], namespace: dict[str, Any]) -> type[_C]:
    """Derive a same-named pydantic subclass through the model metaclass."""
    metaclass: Any = type(cls)
    return cast("type[_C]", metaclass(cls.__name__, (cls,), namespace))


def _provider_marker(self: object) -> None:
    """Implements the abstract marker of OAuth2 credential classes (see `for_provider`)."""


class ResourceOwnerPasswordOAuth2Credentials(_BaseOAuth2CredentialsData):
    # OAuth2 resource-owner password grant (`grant_type=password`).

    grant_type: ClassVar[str | None] = "password"


class ClientCredentialsOAuth2Credentials(_BaseOAuth2CredentialsData):
    # OAuth2 client-credentials grant (`grant_type=client_credentials`).

    grant_type: ClassVar[str | None] = "client_credentials"


class AuthorizationCodeFlowOAuth2Credentials(_BaseOAuth2CredentialsData):
    # Client credentials obtained through the authorization-code flow; build with
    # `for_provider`.

    grant_type: ClassVar[str | None] = "authorization_code"

    @abc.abstractmethod
    def _you_must_build_oauth2_credentials_for_a_provider(self) -> None: ...


class LongLivedClientCredentialsOAuth2Credentials(_BaseOAuth2CredentialsData):
    # An authorization-code flow that yields a non-expiring access token; build with
    # `for_provider`.

    access_token: str = _secret("Access Token")

    @abc.abstractmethod
    def _you_must_build_oauth2_credentials_for_a_provider(self) -> None: ...


class BaseOAuth2Credentials(_BaseOAuth2CredentialsData):
    # The common OAuth2 refresh-token flow; build with `for_provider`:
    # `OAuth2Credentials = BaseOAuth2Credentials.for_provider(OAUTH2_SPEC.provider)`.

    grant_type: ClassVar[str | None] = "refresh_token"

    refresh_token: str = _secret("Refresh Token")

    @abc.abstractmethod
    def _you_must_build_oauth2_credentials_for_a_provider(self) -> None: ...


class RotatingOAuth2Credentials(BaseOAuth2Credentials):
    # A refresh-token flow whose provider rotates the refresh token on every exchange.
    #
    # The current access token and its expiry live in the config, so a restarted connector can
    # keep using them; whenever the kit exchanges the refresh token it persists the new pair
    # through a `configUpdate` event before using the new access token.
    #

    access_token: str = _secret("Access Token")
    access_token_expires_at: datetime = Field(title="Access token expiration time.")


class GoogleServiceAccountSpec(BaseModel):
    """The OAuth scopes a Google service-account token is requested for."""

    scopes: list[str]


class GoogleServiceAccount(BaseModel):
    # A Google service-account JSON key.

    credentials_title: Literal["Google Service Account"] = Field(
        default="Google Service Account", json_schema_extra={"type": "string", "order": 0}
    )
    service_account: str = Field(
        title="Google Service Account",
        description="Service account JSON key",
        repr=False,
        json_schema_extra={**_SECRET, "multiline": True, "order": 1},
    )


def secret_field_values(model: BaseModel) -> list[str]:
    """Every non-empty string value of `model` (recursively) whose field schema is marked
    `secret: true`; the HTTP layer registers these for log redaction."""
    found: list[str] = []
    for name, info in type(model).model_fields.items():
        value = getattr(model, name, None)
        extra = info.json_schema_extra
        if isinstance(value, BaseModel):
            found.extend(secret_field_values(value))
        elif isinstance(extra, dict) and extra.get("secret") is True and isinstance(value, str) and value:
            found.append(value)
    return found
