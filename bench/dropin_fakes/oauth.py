"""The OAuth2 pieces several fakes share: token endpoints for the refresh_token grant (rotating
the refresh token) and the client_credentials grant, the bearer check, and Estuary's config-encryption service (which a
connector calls to persist rotated tokens), recording what it was asked to encrypt so the harness
can compare the two kits' rotated configs."""

from __future__ import annotations

import base64
from typing import Any

from aiohttp import web

ACCESS_TOKEN = "fake-access-1"
ENCRYPTION_HOST = "config-encryption.estuary.dev"


def require_bearer(request: web.Request) -> None:
    if request.headers.get("Authorization") != f"Bearer {ACCESS_TOKEN}":
        raise web.HTTPUnauthorized(text="bad or missing bearer token")


def token_handler(refresh_token: str, client_id: str, client_secret: str) -> Any:
    """POST handler: the refresh_token grant, client credentials in the form or a basic header."""

    async def token(request: web.Request) -> web.Response:
        form = await request.post()
        if form.get("grant_type") != "refresh_token" or form.get("refresh_token") != refresh_token:
            return web.json_response({"error": "invalid_grant"}, status=400)
        if (
            form.get("client_id", client_id) != client_id
            or form.get("client_secret", client_secret) != client_secret
        ):
            return web.json_response({"error": "invalid_client"}, status=401)
        request.app["recorded"].append({"token_request": dict(form)})
        return web.json_response(
            {
                "access_token": ACCESS_TOKEN,
                "refresh_token": "fake-refresh-2",
                "expires_in": 7200,
                "token_type": "bearer",
            }
        )

    return token


def client_credentials_handler(client_id: str, client_secret: str) -> Any:
    """POST handler: the client_credentials grant, the client's id and secret in a basic header."""
    expected = "Basic " + base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()

    async def token(request: web.Request) -> web.Response:
        form = await request.post()
        if form.get("grant_type") != "client_credentials" or request.headers.get("Authorization") != expected:
            return web.json_response({"error": "invalid_client"}, status=401)
        request.app["recorded"].append({"token_request": dict(form)})
        return web.json_response({"access_token": ACCESS_TOKEN, "expires_in": 86400, "token_type": "bearer"})

    return token


async def encrypt_config(request: web.Request) -> web.Response:
    """Echoes the config marked as encrypted; the request's config is recorded."""
    body = await request.json()
    request.app["recorded"].append({"encrypt_config": body["config"]})
    return web.json_response({**body["config"], "sops": {"fake": True}})


def add_routes(
    app: web.Application, token_path: str, refresh_token: str, client_id: str, client_secret: str
) -> None:
    """The token endpoint at `token_path` and the encryption service; `app["recorded"]` is what
    the harness compares."""
    app["recorded"] = []
    app.router.add_post(token_path, token_handler(refresh_token, client_id, client_secret))
    app.router.add_post("/v1/encrypt-config", encrypt_config)
