"""The HTTP layer: `HTTPSession`/`HTTPMixin` (requests with retries, rate limiting and
authentication), `TokenSource` (credentials → tokens), `HTTPError`, `RateLimiter`.

    from estuary_cdk.http import HTTPSession, TokenSource, HTTPError

    http.token_source = TokenSource(oauth_spec=OAUTH2_SPEC, credentials=config.credentials)
    body = await http.request(log, url, params={"limit": 100})

Behaviour in short (details on each class):

* Requests: `request` (whole body, re-issued if the body is cut short), `request_with_headers`,
  `request_lines` and `request_stream` (streamed; a break mid-body raises
  `ResponseBodyError`). JSON (`json=`), form (`form=`) and raw (`data=`) bodies, `params`,
  `headers`, per-request `timeout` (seconds or `aiohttp.ClientTimeout`); gzip/deflate responses
  are decompressed.
* Limits (`HTTPLimits`, per session): a body read whole is refused past `max_body_bytes` (32 MiB
  by default, after decompression) or `max_compression_ratio` (a gzip bomb stops after a few
  MB) with a `ResponseTooLargeError`; `request_stream`/`request_lines` are the way past it.
  Every wait has a deadline: connecting, the response headers, each piece of a body (idle) and
  a whole body (total, so a body that drips ends too); waits past `status_after` (30 s) show as
  `connectorStatus` events while they last.
* Retries (`RetryPolicy`): 5xx, connection errors, resets, truncated bodies and timeouts are
  retried with exponential backoff and jitter, up to `max_attempts` and for at most
  `max_retry_time` (60 s) since the first attempt; the final `HTTPError` /
  `HTTPConnectionError` names the URL (secrets scrubbed), the fault or status, how many attempts
  over how long, and a body excerpt. Other 4xx fail at once. `should_retry` can refuse a 5xx
  retry. A host name that does not resolve while the connector answers `validate` or `discover`
  is not retried: `HostNotFoundError` names the host at once (the user has just typed it); during
  a capture it is retried like any other connection fault.
* Rate limits (`RateLimiter`, one per connector): no warm-up; 429s, `Retry-After` (seconds or
  HTTP date), `RateLimit-Reset`/`X-RateLimit-Reset`, and an exhausted `RateLimit-Remaining`
  pause every task until the time the server gave (resuming them jittered over up to 1 s, not
  all at once); a server asking for more than `max_server_wait` (1 h) fails the request at
  once, and one request waits at most `max_rate_limited_time` (1 h) in all; optional proactive
  `RequestBudget`s; waits over 30 s are announced with a `connectorStatus` event ("waiting on
  rate limit until …"). The reference kit's pacing API too: a settable `delay` slept before
  every request (0 by default) and `update(log, cur_delay, failed)`.
* Auth (`TokenSource`): access tokens / API keys (any header, or a query parameter), basic
  auth, OAuth2 refresh-token / client-credentials (header or form) / password grants, rotating
  refresh tokens persisted through `persist_rotated_credentials` (a `configUpdate` event) before
  the new token is used, and Google service accounts. Tokens are renewed ahead of expiry under
  one lock; a 401 forces one refresh and a retry, then fails clearly.
* Secrets: every token, key and credential is registered in the kit's one secret registry, so
  it is redacted from every log line and from this package's error messages and logged URLs.
* Config encryption (`encrypt_config`): the kit's one client of Estuary's config encryption
  service, used to restate a config (migrations, rotated OAuth2 tokens) without plaintext
  secrets; on its own, or through a session.
* Time: `clock` is injectable (`estuary_cdk.testing.FakeClock`), so tests never wait.
"""

from logging import Logger
from typing import Any

# Credential models and `Mixin` are importable from here too, as connectors written for the
# reference kit do (`from estuary_cdk.http import AccessToken`).
from .. import Mixin
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
)
from . import _mixin
from ._clock import SYSTEM_CLOCK, Clock, SystemClock
from ._encryption import (
    DEFAULT_ENCRYPTION_URL,
    ENCRYPTION_RETRY_POLICY,
    ENCRYPTION_URL,
    ENCRYPTION_URL_ENV_VARS,
    ConfigEncryptionError,
    config_encryption_url,
    encrypt_config,
)
from ._errors import (
    Headers,
    HostNotFoundError,
    HTTPConnectionError,
    HTTPError,
    PaginationCycleError,
    ResponseBodyError,
    ResponseTooLargeError,
    TokenRotationError,
    format_error_body,
)
from ._headers import budget_exhausted, parse_reset, parse_retry_after, server_wait
from ._limits import HTTPLimits
from ._mixin import HTTPMixin
from ._ratelimit import RateLimiter, RequestBudget
from ._redact import REDACTED, redact, register_secret, scrub_url
from ._retry import RetryPolicy
from ._rotation import persist_rotated_credentials
from ._session import (
    DEFAULT_AUTHORIZATION_HEADER,
    DEFAULT_AUTHORIZATION_TOKEN_TYPE,
    BodyGeneratorFunction,
    HeadersAndBodyGenerator,
    HTTPSession,
    ShouldRetryProtocol,
    split_lines,
)
from ._tokens import Credentials, RotationHandler, TokenSource

__all__ = [
    "DEFAULT_AUTHORIZATION_HEADER",
    "DEFAULT_AUTHORIZATION_TOKEN_TYPE",
    "DEFAULT_ENCRYPTION_URL",
    "DEFAULT_TIMEOUT",
    "ENCRYPTION_RETRY_POLICY",
    "ENCRYPTION_URL",
    "ENCRYPTION_URL_ENV_VARS",
    "REDACTED",
    "SYSTEM_CLOCK",
    "AccessToken",
    "AuthorizationCodeFlowOAuth2Credentials",
    "BaseOAuth2Credentials",
    "BasicAuth",
    "BodyGeneratorFunction",
    "ClientCredentialsOAuth2Credentials",
    "Clock",
    "ConfigEncryptionError",
    "Credentials",
    "GoogleServiceAccount",
    "GoogleServiceAccountSpec",
    "HTTPConnectionError",
    "HTTPError",
    "HTTPLimits",
    "HTTPMixin",
    "HTTPSession",
    "Headers",
    "HeadersAndBodyGenerator",
    "HostNotFoundError",
    "Logger",
    "LongLivedClientCredentialsOAuth2Credentials",
    "Mixin",
    "OAuth2ClientCredentialsPlacement",
    "OAuth2Spec",
    "OAuth2TokenFlowSpec",
    "PaginationCycleError",
    "RateLimiter",
    "RequestBudget",
    "ResourceOwnerPasswordOAuth2Credentials",
    "ResponseBodyError",
    "ResponseTooLargeError",
    "RetryPolicy",
    "RotatingOAuth2Credentials",
    "RotationHandler",
    "ShouldRetryProtocol",
    "SystemClock",
    "TokenRotationError",
    "TokenSource",
    "budget_exhausted",
    "config_encryption_url",
    "encrypt_config",
    "format_error_body",
    "parse_reset",
    "parse_retry_after",
    "persist_rotated_credentials",
    "redact",
    "register_secret",
    "scrub_url",
    "server_wait",
    "split_lines",
]


def __getattr__(name: str) -> Any:
    # `DEFAULT_TIMEOUT` is an aiohttp object, built on first use so that importing the HTTP
    # layer does not load aiohttp (see `_aiohttp`).
    if name == "DEFAULT_TIMEOUT":
        return _mixin.default_timeout()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
