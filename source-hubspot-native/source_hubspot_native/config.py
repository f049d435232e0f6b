"""The endpoint configuration: OAuth2 (HubSpot's public app) or a private-app token, the
capture's options, and an advanced section whose base URL points tests at a fake HubSpot."""

from __future__ import annotations

import urllib.parse
from datetime import timedelta

from estuary_cdk.capture.common import AccessToken, BaseOAuth2Credentials, OAuth2Spec
from pydantic import BaseModel, Field, field_validator

__all__ = [
    "HUBSPOT_API",
    "OAUTH2_SPEC",
    "OPTIONAL_SCOPES",
    "REQUIRED_SCOPES",
    "Advanced",
    "EndpointConfig",
    "OAuth2Credentials",
    "token_spec",
]

HUBSPOT_API = "https://api.hubapi.com"

REQUIRED_SCOPES = (
    "crm.lists.read",
    "crm.objects.companies.read",
    "crm.objects.contacts.read",
    "crm.objects.deals.read",
    "crm.objects.owners.read",
    "crm.schemas.companies.read",
    "crm.schemas.contacts.read",
    "crm.schemas.deals.read",
    "e-commerce",
    "forms",
    "tickets",
)
OPTIONAL_SCOPES = (
    "automation",
    "content",
    "crm.objects.custom.read",
    "crm.objects.feedback_submissions.read",
    "crm.objects.goals.read",
    "crm.objects.marketing_events.read",
    "crm.objects.orders.read",
    "crm.schemas.custom.read",
    "marketing.campaigns.read",
)


def _enc(name: str) -> str:
    """A mustache variable the control plane URL-encodes into the template."""
    return "{{#urlencode}}{{{ " + name + " }}}{{/urlencode}}"


OAUTH2_SPEC = OAuth2Spec(
    provider="hubspot",
    authUrlTemplate=(
        f"https://app.hubspot.com/oauth/authorize?client_id={_enc('client_id')}"
        f"&scope={urllib.parse.quote(' '.join(REQUIRED_SCOPES))}"
        f"&optional_scope={urllib.parse.quote(' '.join(OPTIONAL_SCOPES))}"
        f"&redirect_uri={_enc('redirect_uri')}&response_type=code&state={_enc('state')}"
    ),
    accessTokenUrlTemplate=f"{HUBSPOT_API}/oauth/v1/token",
    accessTokenHeaders={"content-type": "application/x-www-form-urlencoded"},
    accessTokenBody=(
        f"grant_type=authorization_code&client_id={_enc('client_id')}&client_secret={_enc('client_secret')}"
        f"&redirect_uri={_enc('redirect_uri')}&code={_enc('code')}"
    ),
    accessTokenResponseMap={"refresh_token": "/refresh_token"},
)
"""The authorization-code flow the Flow UI runs (hubspot.md §1.1, §1.3): only the refresh token
is kept in the config; the connector exchanges it for 30-minute access tokens itself."""

OAuth2Credentials = BaseOAuth2Credentials.for_provider(OAUTH2_SPEC.provider)


def token_spec(base_url: str) -> OAuth2Spec:
    """`OAUTH2_SPEC` with its token URL under `base_url`: the kit refreshes tokens at
    `accessTokenUrlTemplate` as written, and a fake HubSpot serves OAuth on its own host."""
    if base_url == HUBSPOT_API:
        return OAUTH2_SPEC
    return OAUTH2_SPEC.model_copy(update={"accessTokenUrlTemplate": f"{base_url}/oauth/v1/token"})


class Advanced(BaseModel, extra="forbid"):
    base_url: str = Field(
        default=HUBSPOT_API,
        title="API Base URL",
        description="Root of the HubSpot API and of its OAuth token endpoint. Change it only to reach a proxy "
        "or a test server.",
        pattern="^https?://",
    )
    delayed_lag: timedelta = Field(
        default=timedelta(hours=1),
        title="Delayed Stream Lag",
        description="How far behind the present the consistent (delayed) stream of changes reads. HubSpot's "
        "search index and change APIs settle within an hour; a shorter lag risks missed changes.",
        ge=timedelta(seconds=1),
    )

    @field_validator("base_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")


class EndpointConfig(BaseModel, extra="forbid"):
    credentials: OAuth2Credentials | AccessToken = Field(  # type: ignore[valid-type]
        discriminator="credentials_title",
        title="Authentication",
    )
    capturePropertyHistory: bool = Field(
        default=False,
        title="Capture Property History",
        description="Include historical data for changes to properties of HubSpot objects in captured documents.",
        json_schema_extra={"nonsensitive": True},
    )
    useLegacyNamingForCustomObjects: bool = Field(
        default=False,
        title="Use Legacy Naming for Custom Objects",
        description="Name custom object bindings after the object alone, instead of prefixing them with "
        "'custom_'. A custom object then hides a standard object of the same name.",
        json_schema_extra={"nonsensitive": True, "x-hidden-field": True},
    )
    advanced: Advanced = Field(
        default_factory=Advanced,
        title="Advanced",
        json_schema_extra={"advanced": True},
    )

    @property
    def base_url(self) -> str:
        return self.advanced.base_url
