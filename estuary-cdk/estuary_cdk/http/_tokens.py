"""`TokenSource`: turns configured credentials into request authentication, refreshing and
rotating OAuth2 tokens as needed."""

from __future__ import annotations

import asyncio
import base64
import json as jsonlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError

from .._credentials import (
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
    _BaseOAuth2CredentialsData,
    secret_field_values,
)
from .._secrets import register_basic_credentials
from ._errors import HTTPError, TokenRotationError
from ._redact import register_secret, register_secrets, scrub_url
from ._session import DEFAULT_AUTHORIZATION_HEADER, DEFAULT_AUTHORIZATION_TOKEN_TYPE

if TYPE_CHECKING:
    from ._session import HTTPSession

Credentials = (
    BaseOAuth2Credentials
    | RotatingOAuth2Credentials
    | ResourceOwnerPasswordOAuth2Credentials
    | ClientCredentialsOAuth2Credentials
    | AuthorizationCodeFlowOAuth2Credentials
    | LongLivedClientCredentialsOAuth2Credentials
    | AccessToken
    | BasicAuth
    | GoogleServiceAccount
)

# Called with the new credentials after the provider rotated the refresh token, *before* the new
# access token is used; it must persist them durably (see `persist_rotated_credentials`).
RotationHandler = Callable[[logging.Logger, "HTTPSession", Any], Awaitable[None]]

_GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"
_JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
# Rotating credentials carry their access token's expiry; renew this long before it.
_ROTATING_MARGIN = 300.0


@dataclass
class TokenSource:
    """Authentication for an `HTTPSession` (assign it to `http.token_source`).

    By credential type:
    * `AccessToken`, `LongLivedClientCredentialsOAuth2Credentials`: the configured token.
    * `BasicAuth`: `Authorization: Basic base64(username:password)`.
    * `BaseOAuth2Credentials` (refresh token), `ClientCredentialsOAuth2Credentials`,
      `ResourceOwnerPasswordOAuth2Credentials`, `AuthorizationCodeFlowOAuth2Credentials`: an
      access token from `oauth_spec.accessTokenUrlTemplate`, renewed once `refresh_fraction` of
      its lifetime has passed. Client credentials go in the form body or a Basic header per the
      credentials class's `client_credentials_placement`.
    * `RotatingOAuth2Credentials`: the configured access token until shortly before
      `access_token_expires_at`, then a refresh whose new refresh token is handed to
      `on_rotation` (which must persist it, e.g. `persist_rotated_credentials(config)`) before
      the new access token is used.
    * `GoogleServiceAccount`: a self-signed JWT exchanged for an access token for
      `google_spec.scopes`.

    The token goes in `authorization_header` as `"{authorization_token_type} {token}"` (for the
    `Authorization` header) or bare (any other header, e.g. `X-Api-Key`), or in the query
    parameter `query_parameter` when set. Concurrent callers share one refresh (a lock), and
    `force_refresh` lets the session recover from a 401 on a token that should still be valid.
    """

    oauth_spec: OAuth2Spec | OAuth2TokenFlowSpec | None
    credentials: Credentials
    authorization_header: str = DEFAULT_AUTHORIZATION_HEADER
    authorization_token_type: str = DEFAULT_AUTHORIZATION_TOKEN_TYPE
    google_spec: GoogleServiceAccountSpec | None = None
    query_parameter: str | None = None
    on_rotation: RotationHandler | None = None
    refresh_fraction: float = 0.75
    assumed_expires_in: float = 3600.0

    class AccessTokenResponse(BaseModel):
        model_config = ConfigDict(extra="ignore")

        access_token: str
        token_type: str | None = ""
        expires_in: int | None = 0
        refresh_token: str | None = ""
        scope: str | None = ""

    _REFRESHABLE: ClassVar[tuple[type, ...]] = (
        BaseOAuth2Credentials,
        ClientCredentialsOAuth2Credentials,
        ResourceOwnerPasswordOAuth2Credentials,
        AuthorizationCodeFlowOAuth2Credentials,
        GoogleServiceAccount,
    )

    _lock: asyncio.Lock = field(default_factory=asyncio.Lock, init=False, repr=False)
    _token: str | None = field(default=None, init=False, repr=False)
    _refresh_at: float = field(default=0.0, init=False, repr=False)
    _refreshes: int = field(default=0, init=False, repr=False)
    _warned_empty_type: bool = field(default=False, init=False, repr=False)

    def __post_init__(self) -> None:
        register_secrets(secret_field_values(self.credentials))
        if isinstance(self.credentials, BasicAuth):
            register_basic_credentials(self.credentials.username, self.credentials.password)
        if isinstance(self.credentials, GoogleServiceAccount):
            self._register_google_key()

    @property
    def refreshes(self) -> int:
        """How many token exchanges this source has made."""
        return self._refreshes

    @property
    def can_refresh(self) -> bool:
        """Whether a rejected token can be replaced by a new one (else a 401 is final)."""
        return isinstance(self.credentials, self._REFRESHABLE)

    async def fetch_token(self, log: logging.Logger, session: HTTPSession) -> tuple[str, str]:
        """`(token_type, token)` for the next request, refreshing first if needed."""
        creds = self.credentials
        if isinstance(creds, BasicAuth):
            return "Basic", self._basic_value()
        if isinstance(creds, AccessToken | LongLivedClientCredentialsOAuth2Credentials):
            return self.authorization_token_type, creds.access_token
        token = self._token
        if isinstance(creds, RotatingOAuth2Credentials) and creds.access_token != token:
            # First use, or the tokens were rotated outside this source (at `open`, by the
            # connector framework): use the configured access token while it is fresh.
            token = self._adopt_rotating_token(session)
        if token is not None and session.clock.monotonic() < self._refresh_at:
            return self.authorization_token_type, token
        async with self._lock:
            if self._token is None or session.clock.monotonic() >= self._refresh_at:
                await self._refresh(log, session)
            assert self._token is not None
            return self.authorization_token_type, self._token

    async def force_refresh(self, log: logging.Logger, session: HTTPSession, rejected: str) -> bool:
        """Replace `rejected` (a token the server refused) unless another task already did.
        Returns whether a different token is now available."""
        if not self.can_refresh:
            return False
        async with self._lock:
            if self._token is not None and self._token != rejected:
                return True
            await self._refresh(log, session)
            return self._token != rejected

    async def authorize(
        self, log: logging.Logger, session: HTTPSession
    ) -> tuple[dict[str, str], dict[str, str], str]:
        """Headers and query parameters to add to a request, and the token they carry."""
        token_type, token = await self.fetch_token(log, session)
        if self.query_parameter:
            return {}, {self.query_parameter: token}, token
        if self.authorization_header.lower() == "authorization" and token_type:
            value = f"{token_type} {token}"
        else:
            if self.authorization_header.lower() == "authorization" and not self._warned_empty_type:
                self._warned_empty_type = True
                log.warning("sending the access token without a token type in the Authorization header")
            value = token
        register_secret(value)
        return {self.authorization_header: value}, {}, token

    async def initialize_oauth2_tokens(
        self, log: logging.Logger, session: HTTPSession
    ) -> TokenSource.AccessTokenResponse:
        """Exchange the credentials for tokens now and return the raw response (the reference
        kit's entry point for rotating credentials at startup; the caller persists them)."""
        creds = self.credentials
        if not isinstance(creds, _BaseOAuth2CredentialsData) or creds.grant_type is None:
            raise TypeError(f"{type(creds).__name__} credentials cannot be exchanged for tokens")
        return await self._exchange(log, session, creds)

    # --- internals -------------------------------------------------------------------------

    def _basic_value(self) -> str:
        creds = self.credentials
        assert isinstance(creds, BasicAuth)
        return base64.b64encode(f"{creds.username}:{creds.password}".encode()).decode()

    def _adopt_rotating_token(self, session: HTTPSession) -> str:
        creds = self.credentials
        assert isinstance(creds, RotatingOAuth2Credentials)
        expires_at = _aware(creds.access_token_expires_at).timestamp()
        remaining = expires_at - session.clock.time() - _ROTATING_MARGIN
        self._token = creds.access_token
        self._refresh_at = session.clock.monotonic() + remaining
        return creds.access_token

    async def _refresh(self, log: logging.Logger, session: HTTPSession) -> None:
        creds = self.credentials
        if isinstance(creds, GoogleServiceAccount):
            response = await self._google_exchange(log, session, creds)
        elif isinstance(creds, _BaseOAuth2CredentialsData) and creds.grant_type is not None:
            if isinstance(creds, RotatingOAuth2Credentials) and self.on_rotation is None:
                raise TokenRotationError(
                    "the rotating OAuth2 access token is about to expire, but this TokenSource has no "
                    "on_rotation handler to persist the rotated refresh token; refusing to exchange it "
                    "(that would invalidate the configured refresh token). Set "
                    "TokenSource(on_rotation=persist_rotated_credentials(config))."
                )
            response = await self._exchange(log, session, creds)
            await self._apply_rotation(log, session, creds, response)
        else:
            raise TypeError(f"{type(creds).__name__} credentials are not refreshable")
        expires_in = float(response.expires_in or 0) or self.assumed_expires_in
        register_secret(response.access_token)
        self._token = response.access_token
        self._refresh_at = session.clock.monotonic() + expires_in * self.refresh_fraction
        self._refreshes += 1
        log.debug("fetched OAuth2 access token", {"expires_in": response.expires_in})

    async def _exchange(
        self, log: logging.Logger, session: HTTPSession, creds: _BaseOAuth2CredentialsData
    ) -> TokenSource.AccessTokenResponse:
        if self.oauth_spec is None:
            raise TypeError(f"{type(creds).__name__} credentials need an oauth_spec to exchange tokens")
        url = self.oauth_spec.accessTokenUrlTemplate
        form: dict[str, str] = {"grant_type": str(creds.grant_type)}
        headers: dict[str, str] = {}
        if creds.client_credentials_placement == OAuth2ClientCredentialsPlacement.HEADERS:
            register_basic_credentials(creds.client_id, creds.client_secret)
            basic = base64.b64encode(f"{creds.client_id}:{creds.client_secret}".encode()).decode()
            headers["Authorization"] = f"Basic {basic}"
        else:
            form["client_id"] = creds.client_id
            form["client_secret"] = creds.client_secret
        for key, value in self.oauth_spec.additionalTokenExchangeBody.items():
            form[key] = str(value)
        if isinstance(creds, BaseOAuth2Credentials):
            form["refresh_token"] = creds.refresh_token
        try:
            body = await session.request(log, url, "POST", form=form, headers=headers, with_token=False)
        except HTTPError as err:
            raise HTTPError(
                f"OAuth2 token exchange ({creds.grant_type}) failed: {err.message}",
                err.code,
                url=err.url,
                headers=err.headers,
            ) from err
        response = self._token_response(body, f"OAuth2 token exchange ({creds.grant_type})", url)
        register_secret(response.access_token)
        if response.refresh_token:
            register_secret(response.refresh_token)
        return response

    async def _apply_rotation(
        self,
        log: logging.Logger,
        session: HTTPSession,
        creds: _BaseOAuth2CredentialsData,
        response: TokenSource.AccessTokenResponse,
    ) -> None:
        if not isinstance(creds, BaseOAuth2Credentials):
            return
        rotated = bool(response.refresh_token) and response.refresh_token != creds.refresh_token
        update: dict[str, Any] = {}
        if rotated:
            update["refresh_token"] = response.refresh_token
        if isinstance(creds, RotatingOAuth2Credentials):
            expires_in = float(response.expires_in or 0) or self.assumed_expires_in
            update["access_token"] = response.access_token
            update["access_token_expires_at"] = datetime.fromtimestamp(
                session.clock.time() + expires_in, tz=UTC
            )
        if not update:
            return
        new_creds = creds.model_copy(update=update)
        if rotated and self.on_rotation is not None:
            log.info("persisting rotated OAuth2 tokens before using them")
            try:
                await self.on_rotation(log, session, new_creds)
            except Exception as exc:
                raise TokenRotationError(
                    "the OAuth2 provider rotated the refresh token but persisting the new token failed; "
                    "the connector may need to be re-authorized"
                ) from exc
        elif rotated:
            log.warning(
                "the OAuth2 provider rotated the refresh token but no on_rotation handler is set: "
                "the new refresh token is kept in memory only"
            )
        self.credentials = new_creds

    def _register_google_key(self) -> None:
        creds = self.credentials
        assert isinstance(creds, GoogleServiceAccount)
        try:
            info = jsonlib.loads(creds.service_account)
        except ValueError:
            return
        if isinstance(info, dict):
            register_secret(info.get("private_key"))
            register_secret(info.get("private_key_id"))

    async def _google_exchange(
        self, log: logging.Logger, session: HTTPSession, creds: GoogleServiceAccount
    ) -> TokenSource.AccessTokenResponse:
        try:
            info = jsonlib.loads(creds.service_account)
            email = info["client_email"]
            token_uri = info.get("token_uri") or _GOOGLE_TOKEN_URI
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError("the Google service account key is not valid service-account JSON") from exc
        scopes = self.google_spec.scopes if self.google_spec else []
        now = int(session.clock.time())
        claims = {"iss": email, "scope": " ".join(scopes), "aud": token_uri, "iat": now, "exp": now + 3600}
        # RSA signing is CPU work: keep it off the event loop.
        assertion = await asyncio.to_thread(_sign_jwt, info, claims)
        register_secret(assertion)
        try:
            body = await session.request(
                log,
                token_uri,
                "POST",
                form={"grant_type": _JWT_BEARER, "assertion": assertion},
                with_token=False,
            )
        except HTTPError as err:
            raise HTTPError(
                f"Google service account token exchange failed: {err.message}", err.code, url=err.url
            ) from err
        return self._token_response(body, "Google service account token exchange", token_uri)

    def _token_response(self, body: bytes, what: str, url: str) -> TokenSource.AccessTokenResponse:
        """The parsed token response, or an `HTTPError` naming the endpoint and what is wrong
        with it (field names and problems only: the body may hold tokens)."""
        try:
            return self.AccessTokenResponse.model_validate_json(body)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}"
                for e in exc.errors(include_input=False, include_url=False)
            )
            scrubbed = scrub_url(url)
            raise HTTPError(
                f"{what} returned a response that is not a usable token ({problems}).\nURL: {scrubbed}",
                200,
                url=scrubbed,
            ) from None


def _sign_jwt(info: dict[str, Any], claims: dict[str, Any]) -> str:
    from google.auth import crypt, jwt

    signer = crypt.RSASigner.from_service_account_info(info)
    return jwt.encode(signer, claims).decode()


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
