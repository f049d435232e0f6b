"""The kit's one registry of secret values, and their redaction from text.

Whatever handles a secret registers it here: the connector framework registers every config
field marked `secret: true` (`register_secrets_in`), `TokenSource` every credential and token it
uses or obtains. The logger then replaces each of them in every line it writes
(`estuary_cdk.logger`), and the HTTP layer in the error messages it builds (`redact`), so a
secret echoed back by an API or embedded in an exception never reaches the user's logs.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, quote_plus

from pydantic import BaseModel

__all__ = [
    "MIN_SECRET_LENGTH",
    "REDACTED",
    "redact",
    "register_basic_credentials",
    "register_secret",
    "register_secrets",
    "register_secrets_in",
    "registered_secrets",
]

REDACTED = "[redacted]"
"""What a redacted secret is replaced with."""

MIN_SECRET_LENGTH = 4
"""Shorter values are not redacted: replacing every `t` or `42` would wreck the logs, while
revealing a one-to-three character secret reveals nothing a guess would not."""

_lock = threading.Lock()
_secrets: set[str] = set()
# Longest first, so that a secret containing another is redacted whole. Replaced (never
# mutated) under the lock, so readers use it without locking.
_ordered: tuple[str, ...] = ()


def register_secret(value: str | None) -> None:
    """Redact `value` from every log line and HTTP error message from now on, in the forms the
    kit sends it in too: URL-encoded (a query parameter, a form body: `quote` and
    `quote_plus`). `None`, blank values and values shorter than `MIN_SECRET_LENGTH` are
    ignored."""
    global _ordered
    if not isinstance(value, str) or len(value) < MIN_SECRET_LENGTH or not value.strip():
        return
    with _lock:
        if value in _secrets:
            return
        _secrets.update({value, quote(value, safe=""), quote_plus(value)})
        _ordered = tuple(sorted(_secrets, key=len, reverse=True))


def register_basic_credentials(username: str, password: str) -> None:
    """Register `password` and the `Basic` authorization value of `username:password` (base64),
    which is how the kit sends them (`BasicAuth`, client credentials in a header, user-info in a
    URL): a server echoing its request headers back must not reveal them."""
    register_secret(password)
    register_secret(base64.b64encode(f"{username}:{password}".encode()).decode())


def register_secrets(values: Iterable[str | None]) -> None:
    """`register_secret` for each of `values`."""
    for value in values:
        register_secret(value)


def register_secrets_in(value: Any) -> None:
    """Register every string field marked `secret: true` in the JSON schema of a (nested) model.

    Walks model instances rather than schemas, so a discriminated union only contributes the
    member that is actually configured.
    """
    if isinstance(value, BaseModel):
        for name, info in type(value).model_fields.items():
            field_value = getattr(value, name, None)
            extra = info.json_schema_extra
            if isinstance(extra, dict) and extra.get("secret") is True and isinstance(field_value, str):
                register_secret(field_value)
            else:
                register_secrets_in(field_value)
        for extra_value in (value.__pydantic_extra__ or {}).values():
            register_secrets_in(extra_value)
    elif isinstance(value, dict):
        for item in value.values():
            register_secrets_in(item)
    elif isinstance(value, list | tuple):
        for item in value:
            register_secrets_in(item)


def registered_secrets() -> tuple[str, ...]:
    """Every registered secret, longest first (a snapshot)."""
    return _ordered


def redact(text: str) -> str:
    """`text` with every registered secret replaced by `REDACTED`."""
    for secret in _ordered:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text
