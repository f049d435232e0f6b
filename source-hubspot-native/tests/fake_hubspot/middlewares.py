"""What every API request goes through before its handler: scripted hooks, the server time a
request takes, the URL length limit, bearer-token and scope checks, and the rate limits with
HubSpot's headers (hubspot.md §1.1, §4.1, §6.2, §6.3)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web
from estuary_cdk.testing import TokenCheck, TokenProblem

from .catalog import PROPER_PERMISSIONS_PATHS, required_scope
from .fake import PRIVATE_APP_TOKEN, FakeHubSpot
from .responses import error, fake_of, json

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

TOKEN_KEY = web.RequestKey("token", str)
"""The bearer token a request was authenticated with (its rate buckets are per token)."""

_OPEN_PATHS = ("/oauth/", "/_fake/")


def _is_api(path: str) -> bool:
    return not path.startswith(_OPEN_PATHS)


@web.middleware
async def hooks_and_time(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Scripted changes due at this request, and the server time the request takes."""
    fake = fake_of(request)
    if _is_api(request.path):
        fake.run_hooks(request.path, dict(request.query))
        if fake.knobs.ms_per_request:
            fake.clock.advance(fake.knobs.ms_per_request)
    return await handler(request)


@web.middleware
async def url_length(request: web.Request, handler: Handler) -> web.StreamResponse:
    limit = fake_of(request).knobs.max_url_bytes
    if len(request.raw_path) > limit:
        return web.Response(status=414, text="<html><body><h1>414 Request-URI Too Large</h1></body></html>")
    return await handler(request)


def _auth_error(check: TokenCheck) -> web.Response:
    if check.problem is TokenProblem.EXPIRED:
        return error(
            401,
            f"The OAuth token used to make this call expired {check.expired_ms_ago // 1000} second(s) ago.",
            "EXPIRED_AUTHENTICATION",
            context={"expire time": [str(check.expires_at_ms)]},
        )
    return error(
        401,
        "Authentication credentials not found. This API supports OAuth 2.0 authentication.",
        "INVALID_AUTHENTICATION",
    )


def _scope_error(path: str, scope: str) -> web.Response:
    if PROPER_PERMISSIONS_PATHS.fullmatch(path):
        return error(403, "This app does not have proper permissions!", "MISSING_SCOPES")
    return error(
        403,
        "This app hasn't been granted all required scopes to make this call. Read more about required scopes "
        "here: https://developers.hubspot.com/scopes.",
        "MISSING_SCOPES",
        errors=[
            {
                "message": "One or more of the following scopes are required.",
                "context": {"requiredScopes": [scope]},
            }
        ],
        links={"scopes": "https://developers.hubspot.com/scopes"},
    )


@web.middleware
async def auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not _is_api(request.path):
        return await handler(request)
    fake = fake_of(request)
    check = fake.tokens.check(request.headers.get("Authorization"))
    if not check.ok:
        return _auth_error(check)
    scope = required_scope(request.path)
    if scope is not None and not check.has_scope(scope):
        return _scope_error(request.path, scope)
    request[TOKEN_KEY] = check.token
    return await handler(request)


def _limited(fake: FakeHubSpot, group: str, retry_after: float) -> web.Response:
    refused = sum(fake.buckets.refused.values())
    headers = {}
    every = fake.knobs.retry_after_every
    if every and refused % every == 0:
        headers["Retry-After"] = str(max(1, round(retry_after + 0.4999)))
    policy, message = (
        ("SECONDLY", "You have reached your secondly limit.")
        if group == "search"
        else ("TEN_SECONDLY_ROLLING", "You have reached your ten_secondly_rolling limit.")
    )
    body = {
        "status": "error",
        "message": message,
        "errorType": "RATE_LIMIT",
        "correlationId": "6828d000-0000-0000-0000-000000000000",
        "policyName": policy,
        "requestId": "fake",
    }
    return json(body, 429, headers)


@web.middleware
async def rate_limits(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not _is_api(request.path):
        return await handler(request)
    fake = fake_of(request)
    token = str(request.get(TOKEN_KEY))
    group = "search" if request.path.endswith("/search") and "/objects/" in request.path else "general"
    if token == PRIVATE_APP_TOKEN and fake.knobs.daily_cap is not None:
        used = fake.daily_used.get(token, 0) + 1
        fake.daily_used[token] = used
        if used > fake.knobs.daily_cap:
            return json(
                {"status": "error", "message": "You have reached your daily limit.", "errorType": "RATE_LIMIT",
                 "policyName": "DAILY", "correlationId": "fake"},
                429,
            )  # fmt: skip
    verdict = fake.buckets.take(token, group)
    if not verdict.allowed:
        return _limited(fake, group, verdict.retry_after)
    response = await handler(request)
    if verdict.limit is not None and group == "general":
        response.headers["X-HubSpot-RateLimit-Max"] = str(verdict.limit.requests)
        response.headers["X-HubSpot-RateLimit-Remaining"] = str(verdict.remaining)
        response.headers["X-HubSpot-RateLimit-Interval-Milliseconds"] = str(verdict.limit.interval_ms)
        if token == PRIVATE_APP_TOKEN:
            response.headers["X-HubSpot-RateLimit-Daily"] = str(fake.knobs.daily_cap or 250_000)
            response.headers["X-HubSpot-RateLimit-Daily-Remaining"] = str(
                (fake.knobs.daily_cap or 250_000) - fake.daily_used.get(token, 0)
            )
    return response
