"""The HTTP layer: `HTTPSession`/`HTTPMixin` (requests with retries, rate limiting and
authentication), `TokenSource` (credentials → tokens), `HTTPError`, `RateLimiter`.

    from estuary_cdk.http import HTTPSession, TokenSource, HTTPError

    http.token_source = TokenSource(oauth_spec=OAUTH2_SPEC, credentials=config.credentials)
    body = await http.request(log, url, params={"limit": 100})
"""

from ._clock import SYSTEM_CLOCK, Clock, SystemClock
from ._errors import (
    Headers,
    HTTPConnectionError,
    HTTPError,
    PaginationCycleError,
    ResponseBodyError,
    TokenRotationError,
    format_error_body,
)
from ._headers import budget_exhausted, parse_reset, parse_retry_after, server_wait
from ._mixin import DEFAULT_TIMEOUT, HTTPMixin
from ._ratelimit import RateLimiter, RequestBudget
from ._redact import REDACTED, redact, register_secret, scrub_url
from ._retry import RetryPolicy
from ._rotation import ENCRYPTION_URL, encrypt_config, persist_rotated_credentials
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
    "DEFAULT_TIMEOUT",
    "ENCRYPTION_URL",
    "REDACTED",
    "SYSTEM_CLOCK",
    "BodyGeneratorFunction",
    "Clock",
    "Credentials",
    "HTTPConnectionError",
    "HTTPError",
    "HTTPMixin",
    "HTTPSession",
    "Headers",
    "HeadersAndBodyGenerator",
    "PaginationCycleError",
    "RateLimiter",
    "RequestBudget",
    "ResponseBodyError",
    "RetryPolicy",
    "RotationHandler",
    "ShouldRetryProtocol",
    "SystemClock",
    "TokenRotationError",
    "TokenSource",
    "budget_exhausted",
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
