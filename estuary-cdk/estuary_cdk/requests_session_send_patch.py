"""Importing this module gives every `requests` call without a timeout one of `DEFAULT_TIMEOUT`
seconds (two hours).

Airbyte's CDK and the sources built on it send HTTP requests through `requests` without a
timeout, so a server that accepts a connection and never answers would hang a capture forever;
Airbyte-based connectors import this module second, right after `estuary_cdk.pydantic_polyfill`.
It wraps `requests.Session.send` (which every `requests` call goes through) once, however often
it is imported; a caller's own timeout, including an explicit one, is left alone. Where `requests`
is not installed there is nothing to patch and importing this does nothing.
"""

from __future__ import annotations

from typing import Any

__all__ = ["DEFAULT_TIMEOUT"]

DEFAULT_TIMEOUT = 2 * 60 * 60
"""Seconds a `requests` call without a timeout of its own may take (connect and each read)."""

_MARK = "_estuary_cdk_default_timeout"


def _patch() -> None:
    try:
        import requests
    except ImportError:
        return
    original = requests.Session.send
    if getattr(original, _MARK, False):
        return

    def send(self: Any, request: Any, **kwargs: Any) -> Any:
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = DEFAULT_TIMEOUT
        return original(self, request, **kwargs)

    setattr(send, _MARK, True)
    send.__wrapped__ = original  # type: ignore[attr-defined]
    setattr(requests.Session, "send", send)  # noqa: B010


_patch()
