"""Keeping secrets out of log lines and error messages.

Every secret the HTTP layer handles (credential fields, access tokens, encoded basic-auth
values) is registered both here, for the error messages this package builds, and with the
logger (`estuary_cdk.logger.register_secret`), which redacts every line the kit writes. URLs are
additionally scrubbed of query parameters whose *names* look sensitive, since a token passed in a
query string may never have been registered (e.g. a pre-signed URL from an API response).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

from yarl import URL

from ..logger import register_secret as _register_with_logger

REDACTED = "[redacted]"
_PASSWORD_PLACEHOLDER = "REDACTEDPASSWORDPLACEHOLDER"

_lock = threading.Lock()
_secrets: set[str] = set()
_ordered: tuple[str, ...] = ()

# Query parameter names whose values are treated as secret.
_SENSITIVE_PARAM = re.compile(
    r"token|secret|passw|pwd|api[-_]?key|apikey|auth|credential|signature|assertion|session|"
    r"^key$|^sig$|^code$|^client_id$|[-_]key$",
    re.IGNORECASE,
)


# Shorter values can't be redacted meaningfully: replacing every "ab" would garble all text.
MIN_SECRET_LENGTH = 4


def register_secret(value: str | None) -> None:
    """Redact `value` from this package's error messages and from every log line."""
    global _ordered
    if not isinstance(value, str) or len(value) < MIN_SECRET_LENGTH:
        return
    with _lock:
        if value in _secrets:
            return
        _secrets.add(value)
        _ordered = tuple(sorted(_secrets, key=len, reverse=True))
    _register_with_logger(value)


def register_secrets(values: Iterable[str]) -> None:
    for value in values:
        register_secret(value)


def redact(text: str) -> str:
    """`text` with every registered secret replaced by `[redacted]`."""
    for secret in _ordered:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def is_sensitive_param(name: str) -> bool:
    return _SENSITIVE_PARAM.search(name) is not None


def scrub_url(url: str | URL, params: Any = None) -> str:
    """A printable form of `url` (plus `params`, as the request would send them) with user-info
    passwords, sensitive query values and registered secrets redacted."""
    try:
        parsed = URL(url) if isinstance(url, str) else url
        if params:
            parsed = parsed.update_query(params)
        if parsed.password is not None:
            parsed = parsed.with_password(_PASSWORD_PLACEHOLDER)
        query = list(parsed.query.items())
        text = str(parsed.with_query(None).with_fragment(None))
        if query:
            text += "?" + "&".join(
                f"{quote(k, safe='')}={REDACTED if is_sensitive_param(k) else quote(v, safe='')}"
                for k, v in query
            )
        text = text.replace(_PASSWORD_PLACEHOLDER, REDACTED)
    except (TypeError, ValueError):
        text = str(url)
    return redact(text)
