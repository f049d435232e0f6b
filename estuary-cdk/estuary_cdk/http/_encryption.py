"""Estuary's config encryption service: the kit's one way to turn a plain endpoint config into
the sops-encrypted form the control plane accepts in a `configUpdate` event.

The service encrypts every field the config's JSON schema marks `secret: true`, so a restated
config (a migrated one, or one carrying rotated OAuth2 tokens) never carries a plaintext secret.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import orjson
from pydantic import BaseModel

from .._errors import ConnectorError
from ..utils import sort_dict
from ._errors import HTTPError, format_error_body
from ._mixin import HTTPMixin
from ._redact import redact, scrub_url
from ._retry import RetryPolicy

if TYPE_CHECKING:
    from ._session import HTTPSession

__all__ = [
    "DEFAULT_ENCRYPTION_URL",
    "ENCRYPTION_RETRY_POLICY",
    "ENCRYPTION_URL",
    "ENCRYPTION_URL_ENV_VARS",
    "ConfigEncryptionError",
    "config_encryption_url",
    "encrypt_config",
]

DEFAULT_ENCRYPTION_URL = "https://config-encryption.estuary.dev/v1/encrypt-config"

ENCRYPTION_URL = DEFAULT_ENCRYPTION_URL
"""The default service URL (the name this package has always exported)."""

ENCRYPTION_URL_ENV_VARS = ("ENCRYPTION_URL", "ESTUARY_CONFIG_ENCRYPTION_URL")
"""Environment variables that override the service URL, the first one set winning:
`ENCRYPTION_URL` (the connector images' and the reference kit's name) and
`ESTUARY_CONFIG_ENCRYPTION_URL`."""

ENCRYPTION_RETRY_POLICY = RetryPolicy(max_attempts=3, base_delay=0.5, max_delay=2.0)
"""Retries when `encrypt_config` opens its own session: a brief blip of the service is ridden
out (losing a rotated refresh token to it would force a re-authorization), an unreachable
service fails within seconds."""


class ConfigEncryptionError(ConnectorError):
    """The endpoint config could not be encrypted, so it cannot be published. The message names
    the service URL and what went wrong."""


def config_encryption_url() -> str:
    """The service URL in effect: the first of `ENCRYPTION_URL_ENV_VARS` that is set, else
    `DEFAULT_ENCRYPTION_URL`. Read at each call, so tests and local runs can point it at a fake."""
    for name in ENCRYPTION_URL_ENV_VARS:
        if value := os.environ.get(name):
            return value
    return DEFAULT_ENCRYPTION_URL


async def encrypt_config(
    log: logging.Logger,
    config: BaseModel | Mapping[str, Any],
    *,
    session: HTTPSession | None = None,
    encryption_url: str | None = None,
) -> dict[str, Any]:
    """The sops-encrypted form of `config`, from the config encryption service.

    `config` is an endpoint config model (its set fields are sent, with its JSON schema, which
    tells the service what is secret) or an already-plain mapping (sent without a schema). Keys
    are sorted, as sops' MAC depends on key order and Flow sorts them too.

    The request goes through `session` (e.g. the connector itself, an `HTTPMixin`) when given,
    else through a short-lived session of its own with `ENCRYPTION_RETRY_POLICY`. Failures
    raise `ConfigEncryptionError`.
    """
    url = encryption_url or config_encryption_url()
    shown = scrub_url(url)
    if isinstance(config, BaseModel):
        plain = config.model_dump(mode="json", by_alias=True, include=config.model_fields_set)
        schema = type(config).model_json_schema()
    elif isinstance(config, Mapping):
        plain, schema = dict(config), {}
    else:
        raise ConfigEncryptionError(f"cannot encrypt an endpoint config of type {type(config).__name__}")
    body = {"config": sort_dict(plain), "schema": schema}
    try:
        if session is not None:
            raw = await session.request(log, url, "POST", json=body, with_token=False)
        else:
            raw = await _post_once(log, url, body)
    except HTTPError as err:
        if err.code == 0:
            reason = err.message.partition("\n")[0]
            raise ConfigEncryptionError(
                f"could not reach the config encryption service at {shown}: {reason}"
            ) from err
        excerpt = redact(format_error_body(err.body, 500))
        raise ConfigEncryptionError(
            f"config encryption service at {shown} answered HTTP {err.code}: {excerpt}"
        ) from err
    try:
        encrypted = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ConfigEncryptionError(
            f"config encryption service at {shown} returned invalid JSON: {exc}"
        ) from None
    if not isinstance(encrypted, dict):
        raise ConfigEncryptionError(f"config encryption service at {shown} did not return a JSON object")
    return encrypted


async def _post_once(log: logging.Logger, url: str, body: dict[str, Any]) -> bytes:
    session = HTTPMixin()
    session.retry_policy = ENCRYPTION_RETRY_POLICY
    await session._mixin_enter(log)
    try:
        return await session.request(log, url, "POST", json=body, with_token=False)
    finally:
        await session._mixin_exit(log)
