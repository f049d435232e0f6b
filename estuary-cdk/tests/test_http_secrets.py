"""Secrets never show up in log lines or error messages written by the HTTP layer."""

from __future__ import annotations

import pytest
from aiohttp import web
from estuary_cdk._credentials import AccessToken, BaseOAuth2Credentials, OAuth2TokenFlowSpec
from estuary_cdk.http import HTTPError, RetryPolicy, TokenSource, register_secret, scrub_url
from estuary_cdk.testing import FakeClock, capture_logger, open_http_session, serve_app

REFRESH = "refresh-9f8e7d6c5b4a"
CLIENT_SECRET = "client-secret-0a1b2c3d"
API_KEY = "api-key-5e6f7a8b9c"
SIGNATURE = "sig-1234abcd5678"


async def _token(request: web.Request) -> web.Response:
    form = await request.post()
    # A careless provider that echoes the refresh token back in its error body.
    return web.json_response(
        {"error": "invalid_grant", "refresh_token": form.get("refresh_token")}, status=400
    )


async def _api(request: web.Request) -> web.Response:
    return web.json_response({"error": "forbidden", "echo": request.headers.get("Authorization")}, status=403)


async def _data(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


def _app() -> web.Application:
    app = web.Application()
    app.router.add_post("/token", _token)
    app.router.add_get("/api", _api)
    app.router.add_get("/data", _data)
    return app


async def test_no_secret_in_logs_or_errors() -> None:
    log, capture = capture_logger()
    clock = FakeClock()
    errors: list[str] = []
    async with serve_app(_app()) as server:
        server.faults.server_errors((500, 503), path="/data")
        server.faults.rate_limit(path="/data", times=2)
        server.faults.drop_connection(path="/data")
        async with open_http_session(log, clock=clock, retry_policy=RetryPolicy(jitter=0)) as http:
            # Retries of a request whose URL carries an unregistered signature and a query API key.
            http.token_source = TokenSource(
                oauth_spec=None, credentials=AccessToken(access_token=API_KEY), query_parameter="key"
            )
            await http.request(
                log, server.url_for("/data"), params={"X-Amz-Signature": SIGNATURE, "page": "3"}
            )

            # A 403 whose body echoes the Authorization header.
            http.token_source = TokenSource(oauth_spec=None, credentials=AccessToken(access_token=API_KEY))
            with pytest.raises(HTTPError) as err:
                await http.request(log, server.url_for("/api"))
            errors.append(str(err.value))

            # A token exchange whose error body echoes the refresh token.
            oauth = BaseOAuth2Credentials.for_provider("acme")
            http.token_source = TokenSource(
                oauth_spec=OAuth2TokenFlowSpec(
                    accessTokenUrlTemplate=server.url_for("/token"), accessTokenResponseMap={}
                ),
                credentials=oauth(
                    client_id="client-id-q", client_secret=CLIENT_SECRET, refresh_token=REFRESH
                ),
            )
            with pytest.raises(HTTPError) as err:
                await http.request(log, server.url_for("/api"))
            errors.append(str(err.value))
            log.error("capture failed", {"error": errors[-1]})

    text = capture.text + "\n".join(errors)
    assert "invalid_grant" in errors[1] and "forbidden" in errors[0]
    assert server.requests.count("/data") == 6  # the faults really happened
    assert capture.messages("WARNING"), "the retries were logged"
    for secret in (REFRESH, CLIENT_SECRET, API_KEY, SIGNATURE):
        assert secret not in text, f"{secret} leaked"
    assert "[redacted]" in text


def test_scrub_url() -> None:
    register_secret("tenant-secret-77")
    assert (
        scrub_url("https://user:pw-123@api.example.com/v1/items?access_token=abc&page=2&cursor=xyz")
        == "https://user:[redacted]@api.example.com/v1/items?access_token=[redacted]&page=2&cursor=xyz"
    )
    assert scrub_url("https://x.test/a", {"client_secret": "s3", "limit": 10}) == (
        "https://x.test/a?client_secret=[redacted]&limit=10"
    )
    assert scrub_url("https://x.test/tenant-secret-77/items") == "https://x.test/[redacted]/items"
    assert scrub_url("https://x.test/a?api_key=1&apiKey=2&sig=3&code=4&country_code=5") == (
        "https://x.test/a?api_key=[redacted]&apiKey=[redacted]&sig=[redacted]&code=[redacted]&country_code=5"
    )


def test_one_registry_for_logs_and_http_errors() -> None:
    """The logger and the HTTP layer share one secret registry: whichever door a secret came in
    by, both redact it, and the same rules (minimum length, no blank values) apply."""
    import estuary_cdk.http as http
    import estuary_cdk.logger as logger
    from estuary_cdk.testing import capture_logger

    assert http.register_secret is logger.register_secret and http.REDACTED == logger.REDACTED
    http.register_secret("via-http-0c1d2e")
    logger.register_secret("via-logger-3f4a5b")
    http.register_secret("      ")  # blank: never a secret, so spaces stay spaces
    http.register_secret(None)
    log, capture = capture_logger()
    log.info("both via-http-0c1d2e and via-logger-3f4a5b")
    assert capture.messages() == ["both [redacted] and [redacted]"]
    assert http.redact("a      b via-logger-3f4a5b") == "a      b [redacted]"
    assert scrub_url("https://x.test/via-http-0c1d2e") == "https://x.test/[redacted]"


def test_secrets_are_redacted_in_the_forms_the_kit_sends_them() -> None:
    """URL-encoded (a query parameter or form body) and, for basic credentials, base64."""
    import base64

    from estuary_cdk.http import redact

    register_secret("p@ss w/rd-123")
    assert redact("q=p%40ss%20w%2Frd-123 f=p%40ss+w%2Frd-123 raw=p@ss w/rd-123") == (
        "q=[redacted] f=[redacted] raw=[redacted]"
    )
    token = base64.b64encode(b"svc:p@ss w/rd-123").decode()
    from estuary_cdk._secrets import register_basic_credentials

    register_basic_credentials("svc", "p@ss w/rd-123")
    assert redact(f"Authorization: Basic {token}") == "Authorization: Basic [redacted]"


async def test_url_userinfo_sent_as_basic_auth_is_redacted_when_echoed() -> None:
    """aiohttp turns `user:password@host` into a Basic header; an API that echoes it into an
    error body must not show it in the kit's error (issue 16)."""
    import base64

    log, capture = capture_logger()
    password = "url-pw-7q6w5e"
    echoed_basic = base64.b64encode(f"reporter:{password}".encode()).decode()
    async with serve_app(_app()) as server:
        url = server.url_for("/api").replace("http://", f"http://reporter:{password}@")
        async with open_http_session(log, clock=FakeClock()) as http:
            with pytest.raises(HTTPError) as err:
                await http.request(log, url)
            log.error("failed", {"error": str(err.value)})
    seen = server.requests[0].headers["Authorization"]
    assert seen == f"Basic {echoed_basic}"  # really sent, really echoed below
    assert "forbidden" in err.value.message and "Basic [redacted]" in err.value.message
    for text in (err.value.message, capture.text):
        assert echoed_basic not in text and password not in text
