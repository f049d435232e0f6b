"""Push (webhook) captures: an HTTP server whose POSTed documents are routed to bindings by
match rules (``match``), into webhook resources (``resources``), served by ``server``.

``server`` (and with it aiohttp's web server) is imported only when one of its names is used.
"""

from typing import Any

from .match import (
    BodyDiscriminator,
    BodyMatch,
    CollectionDiscriminatorSpec,
    CollectionMatchingSpec,
    Discriminator,
    HeaderDiscriminator,
    HeaderMatch,
    MatchRule,
    UrlDiscriminator,
    UrlMatch,
)
from .resources import (
    CATCH_ALL_DISCRIMINATOR,
    WebhookCaptureSpec,
    WebhookDocument,
    WebhookResource,
    WebhookResourceConfig,
    open_webhook_binding,
)

_SERVER_NAMES = {"build_webhook_app", "start_webhook_server", "WebhookServerError"}


def __getattr__(name: str) -> Any:
    if name in _SERVER_NAMES:
        from . import server

        return getattr(server, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "CATCH_ALL_DISCRIMINATOR",
    "BodyDiscriminator",
    "BodyMatch",
    "CollectionDiscriminatorSpec",
    "CollectionMatchingSpec",
    "Discriminator",
    "HeaderDiscriminator",
    "HeaderMatch",
    "MatchRule",
    "UrlDiscriminator",
    "UrlMatch",
    "WebhookCaptureSpec",
    "WebhookDocument",
    "WebhookResource",
    "WebhookResourceConfig",
    "WebhookServerError",
    "build_webhook_app",
    "open_webhook_binding",
    "start_webhook_server",
]
