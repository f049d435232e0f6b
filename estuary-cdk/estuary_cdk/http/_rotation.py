"""Persisting rotated OAuth2 credentials through a `configUpdate` event."""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any

import orjson
from pydantic import BaseModel

from ._events import config_update_event
from ._tokens import RotationHandler

if TYPE_CHECKING:
    from ._session import HTTPSession

# Estuary's config encryption service: sops-encrypts every field the schema marks secret, so the
# restated config carries no plaintext secret. Overridable for local runs and tests with the
# environment variables ENCRYPTION_URL or ESTUARY_CONFIG_ENCRYPTION_URL (as the connector
# framework's own encryption).
ENCRYPTION_URL = "https://config-encryption.estuary.dev/v1/encrypt-config"
ENCRYPTION_URL_ENV = "ESTUARY_CONFIG_ENCRYPTION_URL"

ROTATION_MESSAGE = "Rotating OAuth2 tokens in endpoint config."


def _sort(value: Any) -> Any:
    # sops' MAC depends on key order and Flow sorts keys, so the restated config must be sorted.
    if isinstance(value, dict):
        return {k: _sort(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sort(v) for v in value]
    return value


async def encrypt_config(
    log: logging.Logger, session: HTTPSession, config: BaseModel, encryption_url: str | None = None
) -> dict[str, Any]:
    """The sops-encrypted form of `config`, from the encryption service."""
    url = (
        encryption_url
        or os.environ.get("ENCRYPTION_URL")
        or os.environ.get(ENCRYPTION_URL_ENV)
        or ENCRYPTION_URL
    )
    body = {
        "config": _sort(config.model_dump(mode="json", by_alias=True, include=config.model_fields_set)),
        "schema": type(config).model_json_schema(),
    }
    encrypted = orjson.loads(await session.request(log, url, "POST", json=body, with_token=False))
    if not isinstance(encrypted, dict):
        raise ValueError("the config encryption service did not return a JSON object")
    return encrypted


def persist_rotated_credentials(
    endpoint_config: BaseModel,
    *,
    credentials_field: str = "credentials",
    encryption_url: str | None = None,
    message: str = ROTATION_MESSAGE,
) -> RotationHandler:
    """An `on_rotation` handler for `TokenSource`: restates `endpoint_config` with the new
    credentials in `credentials_field`, encrypts it and emits it as a `configUpdate` event, so
    the control plane stores the new refresh token before the connector uses it."""

    async def handler(log: logging.Logger, session: HTTPSession, credentials: Any) -> None:
        config = endpoint_config.model_copy(update={credentials_field: credentials})
        encrypted = await encrypt_config(log, session, config, encryption_url)
        config_update_event(log, message, encrypted)

    return handler
