"""Persisting rotated OAuth2 credentials through a `configUpdate` event."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from ._encryption import encrypt_config
from ._events import config_update_event
from ._tokens import RotationHandler

if TYPE_CHECKING:
    from ._session import HTTPSession

ROTATION_MESSAGE = "Rotating OAuth2 tokens in endpoint config."


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
        encrypted = await encrypt_config(log, config, session=session, encryption_url=encryption_url)
        config_update_event(log, message, encrypted)

    return handler
