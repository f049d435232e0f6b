"""TokenSource for every credential kind, against a local OAuth2 provider and API."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta

import orjson
import pytest
from aiohttp import web
from estuary_cdk._credentials import (
    AccessToken,
    BaseOAuth2Credentials,
    BasicAuth,
    ClientCredentialsOAuth2Credentials,
    GoogleServiceAccount,
    GoogleServiceAccountSpec,
    OAuth2ClientCredentialsPlacement,
    OAuth2Spec,
    OAuth2TokenFlowSpec,
    ResourceOwnerPasswordOAuth2Credentials,
    RotatingOAuth2Credentials,
)
from estuary_cdk.http import (
    HTTPError,
    HTTPMixin,
    RetryPolicy,
    TokenRotationError,
    TokenSource,
    persist_rotated_credentials,
)
from estuary_cdk.testing import (
    FakeClock,
    LocalServer,
    LogCapture,
    capture_logger,
    open_http_session,
    serve_app,
)
from estuary_cdk.testing._session import FlowLogger
from pydantic import BaseModel, Field


@dataclass
class Provider:
    """A fake OAuth2 provider + API. Access tokens are `at-N`; refresh tokens `rt-N` when
    rotating. `valid` is the set of access tokens the API accepts."""

    expires_in: int | None = 100
    rotate: bool = False
    valid: set[str] = field(default_factory=set)
    exchanges: list[dict[str, str]] = field(default_factory=list)
    exchange_auth: list[str | None] = field(default_factory=list)
    refresh_tokens: set[str] = field(default_factory=lambda: {"ref-tok-0"})
    api_auth: list[str | None] = field(default_factory=list)
    api_query: list[dict[str, str]] = field(default_factory=list)
    encrypted: list[dict] = field(default_factory=list)
    on_api: list = field(default_factory=list)
    counter: int = 0

    async def token(self, request: web.Request) -> web.Response:
        form = dict(await request.post())
        self.exchanges.append(form)
        self.exchange_auth.append(request.headers.get("Authorization"))
        if form.get("grant_type") == "refresh_token":
            if form.get("refresh_token") not in self.refresh_tokens:
                return web.json_response({"error": "invalid_grant"}, status=400)
        self.counter += 1
        access = f"acc-tok-{self.counter}"
        self.valid.add(access)
        body: dict = {"access_token": access, "token_type": "bearer"}
        if self.expires_in is not None:
            body["expires_in"] = self.expires_in
        if self.rotate:
            # The old refresh token stops working the moment a new one is issued.
            self.refresh_tokens = {f"ref-tok-{self.counter}"}
            body["refresh_token"] = f"ref-tok-{self.counter}"
        return web.json_response(body)

    async def api(self, request: web.Request) -> web.Response:
        auth = request.headers.get("Authorization")
        self.api_auth.append(auth)
        self.api_query.append(dict(request.query))
        for hook in self.on_api:
            hook(request)
        token = (auth or "").removeprefix("Bearer ")
        if token not in self.valid:
            return web.json_response({"error": "unauthorized"}, status=401)
        return web.json_response({"ok": True, "token": token})

    async def encrypt(self, request: web.Request) -> web.Response:
        payload = await request.json()
        self.encrypted.append(payload)
        digest = hashlib.sha256(json.dumps(payload["config"], sort_keys=True).encode()).hexdigest()
        return web.json_response({"credentials": {"sops_digest": digest}, "sops": {"version": "3.9"}})

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/token", self.token)
        app.router.add_get("/api", self.api)
        app.router.add_post("/encrypt", self.encrypt)
        return app


@pytest.fixture
def provider() -> Provider:
    return Provider()


@pytest.fixture
async def server(provider: Provider) -> AsyncIterator[LocalServer]:
    async with serve_app(provider.app()) as srv:
        yield srv


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def logged() -> tuple[FlowLogger, LogCapture]:
    return capture_logger()


@pytest.fixture
async def http(clock: FakeClock, logged) -> AsyncIterator[HTTPMixin]:
    async with open_http_session(logged[0], clock=clock, retry_policy=RetryPolicy(jitter=0)) as s:
        yield s


OAuth2Credentials = BaseOAuth2Credentials.for_provider("acme")


def _spec(server: LocalServer, **extra: str | int) -> OAuth2TokenFlowSpec:
    return OAuth2TokenFlowSpec(
        accessTokenUrlTemplate=server.url_for("/token"),
        accessTokenResponseMap={},
        additionalTokenExchangeBody=dict(extra),
    )


async def _call(http: HTTPMixin, log: FlowLogger, server: LocalServer) -> dict:
    return orjson.loads(await http.request(log, server.url_for("/api")))


async def test_refresh_token_flow_refreshes_ahead_of_expiry_once(
    http: HTTPMixin, server: LocalServer, provider: Provider, clock: FakeClock, logged
) -> None:
    log = logged[0]
    http.token_source = TokenSource(
        oauth_spec=_spec(server, audience="api"),
        credentials=OAuth2Credentials(
            client_id="client-id-xyz", client_secret="client-secret-xyz", refresh_token="ref-tok-0"
        ),
    )
    # Many tasks asking at once share one exchange.
    results = await asyncio.gather(*(_call(http, log, server) for _ in range(10)))
    assert {r["token"] for r in results} == {"acc-tok-1"}
    assert provider.exchanges == [
        {
            "grant_type": "refresh_token",
            "client_id": "client-id-xyz",
            "client_secret": "client-secret-xyz",
            "audience": "api",
            "refresh_token": "ref-tok-0",
        }
    ]
    clock.advance(70)  # 70% of the 100 s lifetime: still fresh
    assert (await _call(http, log, server))["token"] == "acc-tok-1"
    clock.advance(10)  # past 75%: renewed before the server would reject it
    results = await asyncio.gather(*(_call(http, log, server) for _ in range(5)))
    assert {r["token"] for r in results} == {"acc-tok-2"}
    assert len(provider.exchanges) == 2
    assert http.token_source.refreshes == 2


async def test_token_expiring_mid_run_is_refreshed_once_on_401(
    http: HTTPMixin, server: LocalServer, provider: Provider, logged
) -> None:
    log = logged[0]
    provider.expires_in = None  # the provider doesn't say: the kit keeps the token until rejected
    http.token_source = TokenSource(
        oauth_spec=_spec(server),
        credentials=ClientCredentialsOAuth2Credentials(
            client_id="client-id-xyz", client_secret="client-secret-xyz"
        ),
    )
    assert (await _call(http, log, server))["token"] == "acc-tok-1"
    provider.valid.clear()  # the server revokes it early
    results = await asyncio.gather(*(_call(http, log, server) for _ in range(6)))
    assert {r["token"] for r in results} == {"acc-tok-2"}
    assert [e["grant_type"] for e in provider.exchanges] == ["client_credentials"] * 2
    assert (
        provider.api_auth.count("Bearer acc-tok-1") == 7 and provider.api_auth.count("Bearer acc-tok-2") == 6
    )


async def test_401_after_refresh_is_a_clear_error(
    http: HTTPMixin, server: LocalServer, provider: Provider, logged
) -> None:
    http.token_source = TokenSource(
        oauth_spec=_spec(server),
        credentials=ClientCredentialsOAuth2Credentials(
            client_id="client-id-xyz", client_secret="client-secret-xyz"
        ),
    )
    provider.on_api.append(lambda _: provider.valid.clear())  # every token is rejected
    with pytest.raises(HTTPError) as err:
        await _call(http, logged[0], server)
    assert err.value.code == 401
    assert "401 (unauthorized) even after refreshing the access token" in err.value.message
    assert len(provider.exchanges) == 2
    assert "acc-tok-2" not in err.value.message and "client-secret-xyz" not in err.value.message


async def test_static_token_401_fails_without_retry(
    http: HTTPMixin, server: LocalServer, provider: Provider, logged
) -> None:
    http.token_source = TokenSource(oauth_spec=None, credentials=AccessToken(access_token="static-token-xyz"))
    with pytest.raises(HTTPError) as err:
        await _call(http, logged[0], server)
    assert err.value.code == 401
    assert "cannot be refreshed" in err.value.message
    assert provider.api_auth == ["Bearer static-token-xyz"]


@pytest.mark.parametrize(
    "placement", [OAuth2ClientCredentialsPlacement.HEADERS, OAuth2ClientCredentialsPlacement.FORM]
)
async def test_client_credentials_placement(
    http: HTTPMixin,
    server: LocalServer,
    provider: Provider,
    logged,
    placement: OAuth2ClientCredentialsPlacement,
) -> None:
    creds_cls = ClientCredentialsOAuth2Credentials.with_client_credentials_placement(placement)
    http.token_source = TokenSource(
        oauth_spec=_spec(server),
        credentials=creds_cls(client_id="client-id-xyz", client_secret="client-secret-abc"),
    )
    assert (await _call(http, logged[0], server))["ok"]
    if placement == OAuth2ClientCredentialsPlacement.HEADERS:
        assert provider.exchanges == [{"grant_type": "client_credentials"}]
        assert provider.exchange_auth == [
            "Basic " + base64.b64encode(b"client-id-xyz:client-secret-abc").decode()
        ]
    else:
        assert provider.exchanges == [
            {
                "grant_type": "client_credentials",
                "client_id": "client-id-xyz",
                "client_secret": "client-secret-abc",
            }
        ]
        assert provider.exchange_auth == [None]


async def test_api_keys_in_header_query_and_basic(
    http: HTTPMixin, server: LocalServer, provider: Provider, logged
) -> None:
    log = logged[0]
    provider.valid.add("api-key-one")
    http.token_source = TokenSource(
        oauth_spec=None, credentials=AccessToken(access_token="api-key-one"), authorization_header="X-Api-Key"
    )
    with pytest.raises(HTTPError):  # the fake API only reads Authorization: just check what was sent
        await http.request(log, server.url_for("/api"))
    assert server.requests[-1].headers["X-Api-Key"] == "api-key-one"
    assert "Authorization" not in server.requests[-1].headers

    http.token_source = TokenSource(
        oauth_spec=None, credentials=AccessToken(access_token="api-key-two"), query_parameter="api_key"
    )
    with pytest.raises(HTTPError) as err:
        await http.request(log, server.url_for("/api"), params={"page": "2"})
    assert provider.api_query[-1] == {"page": "2", "api_key": "api-key-two"}
    assert f"URL: {server.url}/api?page=2" in err.value.message and "api-key-two" not in err.value.message

    http.token_source = TokenSource(
        oauth_spec=None, credentials=BasicAuth(username="user-xyz", password="pass-word-xyz")
    )
    with pytest.raises(HTTPError):
        await http.request(log, server.url_for("/api"))
    assert provider.api_auth[-1] == "Basic " + base64.b64encode(b"user-xyz:pass-word-xyz").decode()


RotatingCredentials = RotatingOAuth2Credentials.for_provider("acme")


class EndpointConfig(BaseModel):
    start_date: str = "2024-01-01"
    credentials: RotatingCredentials = Field(title="Authentication")  # type: ignore[valid-type]


async def test_rotating_refresh_token_is_persisted_before_use(
    http: HTTPMixin, server: LocalServer, provider: Provider, clock: FakeClock, logged
) -> None:
    log, capture = logged
    provider.rotate = True
    provider.expires_in = 3600
    provider.valid.add("acc-tok-0")
    config = EndpointConfig(
        start_date="2024-01-01",
        credentials=RotatingCredentials(
            client_id="client-id-xyz",
            client_secret="client-secret-xyz",
            refresh_token="ref-tok-0",
            access_token="acc-tok-0",
            access_token_expires_at=clock.now() + timedelta(minutes=10),
        ),
    )

    def check_persisted_first(request: web.Request) -> None:
        token = (request.headers.get("Authorization") or "").removeprefix("Bearer ")
        if token != "acc-tok-0":
            persisted = capture.events("configUpdate")
            assert persisted, "a rotated token was used before the configUpdate event"
            assert provider.encrypted[-1]["config"]["credentials"]["access_token"] == token

    provider.on_api.append(check_persisted_first)
    http.token_source = TokenSource(
        oauth_spec=_spec(server),
        credentials=config.credentials,
        on_rotation=persist_rotated_credentials(config, encryption_url=server.url_for("/encrypt")),
    )
    assert (await _call(http, log, server))["token"] == "acc-tok-0"  # still valid: no exchange at start
    assert provider.exchanges == []

    clock.advance(6 * 60)  # within 5 minutes of expiry: rotate
    assert (await _call(http, log, server))["token"] == "acc-tok-1"
    clock.advance(3600)
    assert (await _call(http, log, server))["token"] == "acc-tok-2"

    assert [e["refresh_token"] for e in provider.exchanges] == ["ref-tok-0", "ref-tok-1"]
    events = capture.events("configUpdate")
    assert [e["msg"] for e in events] == ["Rotating OAuth2 tokens in endpoint config."] * 2
    assert events[0]["fields"]["config"]["sops"] == {"version": "3.9"}
    persisted = [p["config"] for p in provider.encrypted]
    assert [p["credentials"]["refresh_token"] for p in persisted] == ["ref-tok-1", "ref-tok-2"]
    assert persisted[0]["start_date"] == "2024-01-01"
    assert list(persisted[0]) == sorted(persisted[0])  # sorted for sops' MAC
    assert provider.encrypted[0]["schema"] == EndpointConfig.model_json_schema()
    # No plaintext token in any log line, including the configUpdate event.
    for secret in (
        "ref-tok-0",
        "ref-tok-1",
        "ref-tok-2",
        "acc-tok-0",
        "acc-tok-1",
        "acc-tok-2",
        "client-secret-xyz",
    ):
        assert f'"{secret}"' not in capture.text and f"Bearer {secret}" not in capture.text


async def test_rotating_without_persistence_refuses_to_exchange(
    http: HTTPMixin, server: LocalServer, provider: Provider, clock: FakeClock, logged
) -> None:
    creds = RotatingOAuth2Credentials.for_provider("acme")(
        client_id="client-id-xyz",
        client_secret="client-secret-xyz",
        refresh_token="ref-tok-0",
        access_token="acc-tok-0",
        access_token_expires_at=clock.now() + timedelta(minutes=1),
    )
    http.token_source = TokenSource(oauth_spec=_spec(server), credentials=creds)
    with pytest.raises(TokenRotationError, match="on_rotation"):
        await _call(http, logged[0], server)
    assert provider.exchanges == []


async def test_failed_token_exchange_is_clear(
    http: HTTPMixin, server: LocalServer, provider: Provider, logged
) -> None:
    http.token_source = TokenSource(
        oauth_spec=_spec(server),
        credentials=OAuth2Credentials(
            client_id="client-id-xyz", client_secret="client-secret-xyz", refresh_token="revoked-token"
        ),
    )
    with pytest.raises(HTTPError) as err:
        await _call(http, logged[0], server)
    assert err.value.code == 400
    assert err.value.message.startswith(
        "OAuth2 token exchange (refresh_token) failed: Encountered HTTP error status 400"
    )
    assert "invalid_grant" in err.value.message


async def test_token_response_without_a_token_is_clear(logged, clock: FakeClock) -> None:
    async def token(request: web.Request) -> web.Response:
        # A 200 that is not a token: e.g. a provider that answers errors with 200.
        return web.json_response({"error": "invalid_client", "refresh_token": "leaky-refresh-tok"})

    app = web.Application()
    app.router.add_post("/token", token)
    async with serve_app(app) as server, open_http_session(logged[0], clock=clock) as http:
        http.token_source = TokenSource(
            oauth_spec=_spec(server),
            credentials=OAuth2Credentials(client_id="cid", client_secret="csecret", refresh_token="rtok"),
        )
        with pytest.raises(HTTPError) as err:
            await http.request(logged[0], server.url_for("/api"))
    message = err.value.message
    assert message.startswith(
        "OAuth2 token exchange (refresh_token) returned a response that is not a usable token "
        "(access_token: Field required)."
    )
    assert f"URL: {server.url}/token" in message
    assert "leaky-refresh-tok" not in message and "Traceback" not in message
    assert err.value.__cause__ is None  # pydantic's error (which quotes the body) is not chained


def _service_account(server: LocalServer) -> tuple[str, bytes]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    info = {
        "type": "service_account",
        "client_email": "capture@acme.iam.gserviceaccount.com",
        "private_key_id": "kid-1",
        "private_key": pem,
        "token_uri": server.url_for("/google-token"),
    }
    return json.dumps(info), public


async def test_google_service_account_jwt(http: HTTPMixin, clock: FakeClock, logged) -> None:
    from google.auth import jwt

    received: list[dict] = []
    public_holder: list[bytes] = []

    async def google_token(request: web.Request) -> web.Response:
        form = dict(await request.post())
        assert form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
        claims = jwt.decode(form["assertion"], certs=public_holder[0], verify=True, audience=str(request.url))
        received.append(claims)
        return web.json_response({"access_token": f"g-{len(received)}", "expires_in": 3600})

    async def api(request: web.Request) -> web.Response:
        return web.json_response({"auth": request.headers.get("Authorization")})

    app = web.Application()
    app.router.add_post("/google-token", google_token)
    app.router.add_get("/api", api)
    async with serve_app(app) as server:
        key_json, public = _service_account(server)
        public_holder.append(public)
        http.token_source = TokenSource(
            oauth_spec=None,
            credentials=GoogleServiceAccount(service_account=key_json),
            google_spec=GoogleServiceAccountSpec(
                scopes=["https://www.googleapis.com/auth/analytics.readonly"]
            ),
        )
        # jwt.decode checks iat/exp against the real time: keep the fake wall clock close to it.
        clock.set_time(time.time())
        assert orjson.loads(await http.request(logged[0], server.url_for("/api")))["auth"] == "Bearer g-1"
        assert orjson.loads(await http.request(logged[0], server.url_for("/api")))["auth"] == "Bearer g-1"
    assert len(received) == 1
    assert received[0]["iss"] == "capture@acme.iam.gserviceaccount.com"
    assert received[0]["scope"] == "https://www.googleapis.com/auth/analytics.readonly"
    assert received[0]["exp"] - received[0]["iat"] == 3600


async def test_rotating_tokens_rotated_in_place_at_open_are_adopted(
    http: HTTPMixin, server: LocalServer, provider: Provider, clock: FakeClock, logged
) -> None:
    """The connector framework rotates tokens at `open` by mutating the credentials in place
    (reference behaviour); the token source must pick the new access token up, not exchange."""
    provider.valid.update({"acc-tok-0", "acc-tok-open"})
    creds = RotatingCredentials(
        client_id="client-id-xyz",
        client_secret="client-secret-xyz",
        refresh_token="ref-tok-0",
        access_token="acc-tok-0",
        access_token_expires_at=clock.now() + timedelta(hours=1),
    )
    http.token_source = TokenSource(oauth_spec=_spec(server), credentials=creds)
    assert (await _call(http, logged[0], server))["token"] == "acc-tok-0"
    creds.access_token = "acc-tok-open"
    creds.access_token_expires_at = clock.now() + timedelta(hours=2)
    assert (await _call(http, logged[0], server))["token"] == "acc-tok-open"
    assert provider.exchanges == []


async def test_oauth2_spec_and_password_grant(
    http: HTTPMixin, server: LocalServer, provider: Provider, logged
) -> None:
    spec = OAuth2Spec(
        provider="acme",
        authUrlTemplate="https://acme.example/authorize",
        accessTokenUrlTemplate=server.url_for("/token"),
        accessTokenHeaders={},
        accessTokenBody="",
        accessTokenResponseMap={},
        additionalTokenExchangeBody={"username": "user-name-xyz", "password": "pass-word-abc", "ttl": 60},
    )
    http.token_source = TokenSource(
        oauth_spec=spec,
        credentials=ResourceOwnerPasswordOAuth2Credentials(
            client_id="client-id-xyz", client_secret="client-secret-xyz"
        ),
    )
    assert (await _call(http, logged[0], server))["token"] == "acc-tok-1"
    assert provider.exchanges == [
        {
            "grant_type": "password",
            "client_id": "client-id-xyz",
            "client_secret": "client-secret-xyz",
            "username": "user-name-xyz",
            "password": "pass-word-abc",
            "ttl": "60",
        }
    ]
