"""Credential models: their JSON schemas are a wire contract with the Flow UI/control plane."""

from __future__ import annotations

from datetime import UTC, datetime

import pydantic
import pytest
from estuary_cdk._credentials import (
    AccessToken,
    AuthorizationCodeFlowOAuth2Credentials,
    BaseOAuth2Credentials,
    BasicAuth,
    ClientCredentialsOAuth2Credentials,
    GoogleServiceAccount,
    LongLivedClientCredentialsOAuth2Credentials,
    OAuth2ClientCredentialsPlacement,
    OAuth2Spec,
    OAuth2TokenFlowSpec,
    ResourceOwnerPasswordOAuth2Credentials,
    RotatingOAuth2Credentials,
    secret_field_values,
)
from pydantic import BaseModel, Field


@pytest.mark.skipif(
    tuple(int(p) for p in pydantic.VERSION.split(".")[:2]) < (2, 10),
    reason="recorded from the reference under pydantic 2.14; pydantic 2.7 writes dict and Literal "
    "fields' schemas differently (so does the reference kit under it)",
)
def test_for_provider_schema_matches_reference_shape() -> None:
    cls = BaseOAuth2Credentials.for_provider("hubspot")
    assert cls.__name__ == "BaseOAuth2Credentials"
    assert cls.model_json_schema() == {
        "properties": {
            "credentials_title": {
                "const": "OAuth Credentials",
                "default": "OAuth Credentials",
                "title": "Credentials Title",
                "type": "string",
            },
            "client_id": {"secret": True, "title": "Client Id", "type": "string"},
            "client_secret": {"secret": True, "title": "Client Secret", "type": "string"},
            "refresh_token": {"secret": True, "title": "Refresh Token", "type": "string"},
        },
        "required": ["client_id", "client_secret", "refresh_token"],
        "title": "OAuth",
        "type": "object",
        "x-oauth2-provider": "hubspot",
    }


@pytest.mark.parametrize(
    "abstract",
    [
        BaseOAuth2Credentials,
        RotatingOAuth2Credentials,
        AuthorizationCodeFlowOAuth2Credentials,
        LongLivedClientCredentialsOAuth2Credentials,
    ],
)
def test_abstract_credentials_need_a_provider(abstract: type[BaseModel]) -> None:
    fields = {
        "client_id": "id",
        "client_secret": "secret",
        "refresh_token": "r",
        "access_token": "a",
        "access_token_expires_at": datetime(2030, 1, 1, tzinfo=UTC),
    }
    with pytest.raises(TypeError, match="abstract"):
        abstract(**fields)
    concrete = abstract.for_provider("acme")  # type: ignore[attr-defined]
    instance = concrete(**fields)
    assert isinstance(instance, abstract)
    assert concrete.model_json_schema()["x-oauth2-provider"] == "acme"


def test_concrete_grants_and_placement() -> None:
    assert ResourceOwnerPasswordOAuth2Credentials.grant_type == "password"
    assert ClientCredentialsOAuth2Credentials.grant_type == "client_credentials"
    assert AuthorizationCodeFlowOAuth2Credentials.grant_type == "authorization_code"
    assert BaseOAuth2Credentials.grant_type == "refresh_token"
    assert LongLivedClientCredentialsOAuth2Credentials.grant_type is None

    creds = ClientCredentialsOAuth2Credentials(client_id="id", client_secret="s")
    assert creds.client_credentials_placement == OAuth2ClientCredentialsPlacement.FORM
    headers_cls = BaseOAuth2Credentials.with_client_credentials_placement(
        OAuth2ClientCredentialsPlacement.HEADERS
    ).for_provider("acme")
    assert headers_cls.client_credentials_placement == OAuth2ClientCredentialsPlacement.HEADERS
    # The parent class is untouched and the schema does not change.
    assert BaseOAuth2Credentials.client_credentials_placement == OAuth2ClientCredentialsPlacement.FORM
    assert headers_cls.model_json_schema() == BaseOAuth2Credentials.for_provider("acme").model_json_schema()
    # And the other order of chaining works too.
    other = BaseOAuth2Credentials.for_provider("acme").with_client_credentials_placement(
        OAuth2ClientCredentialsPlacement.HEADERS
    )
    assert (
        other(client_id="a", client_secret="b", refresh_token="c").client_credentials_placement == "headers"
    )


def test_discriminated_union_and_secret_values() -> None:
    oauth = BaseOAuth2Credentials.for_provider("acme")

    class Config(BaseModel):
        credentials: oauth | AccessToken | BasicAuth = Field(  # type: ignore[valid-type]
            discriminator="credentials_title", title="Authentication"
        )

    cfg = Config.model_validate(
        {"credentials": {"credentials_title": "Username & Password", "username": "u", "password": "pw"}}
    )
    assert isinstance(cfg.credentials, BasicAuth)
    assert secret_field_values(cfg) == ["pw"]
    cfg = Config.model_validate(
        {
            "credentials": {
                "credentials_title": "OAuth Credentials",
                "client_id": "cid",
                "client_secret": "csecret",
                "refresh_token": "rt",
            }
        }
    )
    assert isinstance(cfg.credentials, BaseOAuth2Credentials)
    assert secret_field_values(cfg) == ["cid", "csecret", "rt"]
    # Secrets are kept out of repr() so an accidentally logged model doesn't leak them.
    assert "csecret" not in repr(cfg) and "rt'" not in repr(cfg)


def test_schemas_of_simple_credentials() -> None:
    schema = AccessToken.model_json_schema()
    assert "description" not in schema
    assert schema["properties"]["access_token"] == {"secret": True, "title": "Access Token", "type": "string"}
    assert schema["properties"]["credentials_title"]["const"] == "Private App Credentials"
    assert BasicAuth.model_json_schema()["properties"]["password"]["secret"] is True
    sa = GoogleServiceAccount.model_json_schema()["properties"]
    assert sa["credentials_title"]["order"] == 0
    assert sa["service_account"] == {
        "description": "Service account JSON key",
        "multiline": True,
        "order": 1,
        "secret": True,
        "title": "Google Service Account",
        "type": "string",
    }


def test_oauth2_spec_hides_additional_token_exchange_body() -> None:
    spec = OAuth2Spec(
        provider="acme",
        authUrlTemplate="https://acme/authorize?client_id={{{ client_id }}}",
        accessTokenUrlTemplate="https://acme/token",
        accessTokenHeaders={"content-type": "application/x-www-form-urlencoded"},
        accessTokenBody="grant_type=authorization_code",
        accessTokenResponseMap={"refresh_token": "/refresh_token"},
        additionalTokenExchangeBody={"audience": "api"},
    )
    assert spec.additionalTokenExchangeBody == {"audience": "api"}
    dumped = spec.model_dump()
    assert "additionalTokenExchangeBody" not in dumped
    assert list(dumped) == [
        "provider",
        "accessTokenBody",
        "authUrlTemplate",
        "accessTokenHeaders",
        "accessTokenResponseMap",
        "accessTokenUrlTemplate",
    ]
    flow = OAuth2TokenFlowSpec(accessTokenResponseMap={}, accessTokenUrlTemplate="https://acme/token")
    assert flow.additionalTokenExchangeBody == {}
