"""`HubSpot`: the connector's HTTP client. Every call goes through the kit's session (retries,
the shared rate limiter, token refresh) and through `HubSpotLimits` (the headers and the search
limit); errors HubSpot words as a missing scope become `MissingScopeError`."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

import orjson
from estuary_cdk.http import HTTPError, HTTPSession, RequestBudget

from .limits import HubSpotLimits

__all__ = ["HubSpot", "HubSpotError", "MissingScopeError", "is_missing_scope"]

MISSING_SCOPE = re.compile(
    r"This app hasn't been granted all required scopes|"
    r"auth request is missing required '.*' scope|"
    r"does not have proper permissions",
    re.IGNORECASE,
)
"""The ways HubSpot says a token lacks a scope (hubspot.md §2: widened twice by Estuary)."""

PUBLIC_APP_BUDGET = RequestBudget(110, 10.0)
PRIVATE_APP_BUDGET = RequestBudget(100, 10.0)


class HubSpotError(RuntimeError):
    """HubSpot answered with something that is not the documented shape."""


class MissingScopeError(HubSpotError):
    """A 403 saying the credentials lack a scope: `scopes` lists those HubSpot named."""

    def __init__(self, message: str, scopes: list[str], error: HTTPError) -> None:
        super().__init__(message)
        self.scopes = scopes
        self.error = error


def _error_body(error: HTTPError) -> dict[str, Any]:
    try:
        body = orjson.loads(error.body)
    except orjson.JSONDecodeError:
        return {}
    return body if isinstance(body, dict) else {}


def is_missing_scope(error: HTTPError) -> bool:
    return error.code == 403 and bool(MISSING_SCOPE.search(str(_error_body(error).get("message", ""))))


def _scopes_named(body: dict[str, Any]) -> list[str]:
    named: list[str] = []
    for entry in body.get("errors") or []:
        if isinstance(entry, dict):
            named += [str(s) for s in (entry.get("context") or {}).get("requiredScopes") or []]
    return named


class HubSpot:
    """Requests to HubSpot's API under `base_url`."""

    def __init__(self, http: HTTPSession, base_url: str, budget: RequestBudget = PUBLIC_APP_BUDGET) -> None:
        self.http = http
        self.base_url = base_url
        self.limits = HubSpotLimits(http, budget)

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    async def get(self, log: logging.Logger, path: str, params: Mapping[str, Any] | None = None) -> Any:
        return await self._call(log, "GET", path, params=params)

    async def post(self, log: logging.Logger, path: str, body: Any) -> Any:
        return await self._call(log, "POST", path, json=body)

    async def search(self, log: logging.Logger, object_path: str, body: Any) -> Any:
        """A CRM search: spaced to HubSpot's search limit before it joins the other requests."""
        await self.limits.before_search(log)
        return await self._call(log, "POST", f"/crm/v3/objects/{object_path}/search", json=body)

    async def _call(self, log: logging.Logger, method: str, path: str, **kwargs: Any) -> Any:
        try:
            headers, body = await self.http.request_with_headers(log, self.url(path), method, **kwargs)
        except HTTPError as err:
            if is_missing_scope(err):
                scopes = _scopes_named(_error_body(err))
                named = f" (it needs {', '.join(scopes)})" if scopes else ""
                raise MissingScopeError(
                    f"HubSpot refused {method} {path}: the credentials lack a scope{named}. "
                    "Reconnect the account granting it, or disable the bindings that need it.",
                    scopes,
                    err,
                ) from err
            raise
        self.limits.observe(log, headers)
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError as err:
            raise HubSpotError(f"{method} {path} did not return JSON: {body[:200]!r}") from err
