"""Printable URLs: scrubbed of passwords, sensitive query values and registered secrets.

The secrets themselves (credential fields, access tokens, encoded basic-auth values) live in the
kit's one registry, `estuary_cdk._secrets`, whose `redact`/`register_secret` are re-exported
here for this package's modules. A URL is additionally scrubbed of query parameters whose
*names* look sensitive, since a token passed in a query string may never have been registered
(e.g. a pre-signed URL from an API response).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from yarl import URL

from .._secrets import REDACTED, redact, register_secret, register_secrets

__all__ = ["REDACTED", "is_sensitive_param", "redact", "register_secret", "register_secrets", "scrub_url"]

_PASSWORD_PLACEHOLDER = "REDACTEDPASSWORDPLACEHOLDER"

# Query parameter names whose values are treated as secret.
_SENSITIVE_PARAM = re.compile(
    r"token|secret|passw|pwd|api[-_]?key|apikey|auth|credential|signature|assertion|session|"
    r"^key$|^sig$|^code$|^client_id$|[-_]key$",
    re.IGNORECASE,
)


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
