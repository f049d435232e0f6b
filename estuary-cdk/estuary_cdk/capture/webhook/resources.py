"""Webhook resources: the document model, resource config and resource of push bindings, and
``WebhookCaptureSpec``, which turns a discriminator into one resource per routed value.

This module imports the engine's parts directly rather than ``capture.common``, because
``common`` re-exports ``WebhookResourceConfig`` from here.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar, Generic, TypeVar
from uuid import uuid4

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from ...flow import CaptureBinding
from .._engine.binding import open_binding
from .._engine.config import BaseResourceConfig
from .._engine.resources import Resource
from .._engine.state import ResourceState
from ..document import BaseDocument
from ..task import Task
from .match import CollectionDiscriminatorSpec, CollectionMatchingSpec, UrlDiscriminator, UrlMatch

__all__ = [
    "CATCH_ALL_DISCRIMINATOR",
    "WEBHOOK_KEY",
    "WebhookCaptureSpec",
    "WebhookDocument",
    "WebhookResource",
    "WebhookResourceConfig",
    "match_rule_conflicts",
    "open_webhook_binding",
    "webhook_bindings",
]

WEBHOOK_KEY = ["/_meta/webhookId"]
"""The default collection key: every pushed document gets its own id."""


def _new_webhook_id() -> str:
    return str(uuid4())


def _received_now() -> str:
    return datetime.now(tz=UTC).isoformat()


def _require_meta_fields(schema: dict[str, Any]) -> None:
    # The server always sets these, and `webhookId` is the default collection key, which the
    # runtime requires to exist: say so in the discovered schema.
    required = list(schema.get("required") or [])
    for name in ("webhookId", "receivedAt", "headers", "reqPath"):
        if name not in required:
            required.append(name)
    schema["required"] = required


def _require_meta(schema: dict[str, Any]) -> None:
    required = list(schema.get("required") or [])
    if "_meta" not in required:
        required.append("_meta")
    schema["required"] = required


# Models whose JSON schema a connector publishes carry comments, not docstrings: pydantic would
# emit a docstring as the schema's "description", which the reference kit's schemas do not have.
class WebhookDocument(BaseDocument):
    # A pushed document: the request body's fields plus ``_meta`` describing the request.

    model_config = ConfigDict(json_schema_extra=_require_meta)

    class Meta(BaseDocument.Meta):
        model_config = ConfigDict(json_schema_extra=_require_meta_fields)

        webhookId: str = Field(default_factory=_new_webhook_id)
        receivedAt: str = Field(default_factory=_received_now)
        headers: dict[str, str]
        reqPath: str
        pathParams: dict[str, str] | None = None
        queryParams: dict[str, str] | None = None

    meta_: Meta = Field(
        default_factory=lambda: WebhookDocument.Meta(op="u", headers={}, reqPath=""),
        alias="_meta",
        description="Document metadata",
    )


class WebhookResourceConfig(BaseResourceConfig):
    # Resource config of a webhook binding: its name and the rule routing documents to it.

    PATH_POINTERS: ClassVar[list[str]] = ["/name"]

    name: str = Field(description="Name of this resource")
    match_rule: CollectionMatchingSpec = Field(
        default_factory=lambda: UrlMatch(value="*"),
        description="Matching spec for routing incoming webhooks to this collection",
        discriminator="type",
    )

    def path(self) -> list[str]:
        return [self.name]


_WebhookDocument = TypeVar("_WebhookDocument", bound=WebhookDocument)
_WebhookResourceConfig = TypeVar("_WebhookResourceConfig", bound=BaseResourceConfig)


@dataclass(kw_only=True)
class WebhookResource(Resource[_WebhookDocument, _WebhookResourceConfig, ResourceState]):
    """A push binding's resource. It asks for explicit acknowledgements, so the server answers
    a request only once the runtime committed its documents."""

    key: list[str] = field(default_factory=lambda: list(WEBHOOK_KEY))
    model: type[_WebhookDocument] | Resource.FixedSchema = field(
        default=WebhookDocument  # type: ignore[assignment]
    )
    initial_state: ResourceState = field(default_factory=ResourceState)
    schema_inference: bool = True
    requires_explicit_acks: bool = True


def webhook_bindings(
    all_bindings: Sequence[tuple[Any, Resource[Any, Any, Any]]],
) -> dict[int, Resource[Any, WebhookResourceConfig, Any]]:
    """The webhook resources of the resolved bindings, by binding index."""
    return {
        index: resource
        for index, (_, resource) in enumerate(all_bindings)
        if isinstance(resource.initial_config, WebhookResourceConfig)
    }


def open_webhook_binding(
    binding: CaptureBinding[Any],
    binding_index: int,
    resource_state: ResourceState,
    task: Task,
    all_bindings: Sequence[tuple[Any, Resource[Any, Any, Any]]],
) -> None:
    """``Resource.open`` of webhook bindings: counts the binding and, for the first webhook
    binding of the session, starts the one server that receives documents for all of them."""
    open_binding(binding, binding_index, resource_state, task)
    if task.stopping.webhook_task is None:
        from .server import start_webhook_server  # aiohttp's server is only loaded when used.

        start_webhook_server(webhook_bindings(all_bindings), task)


def match_rule_conflicts(resources: Sequence[Resource[Any, Any, Any]]) -> list[str]:
    """Every pair of webhook resources whose match rules would claim the same documents."""
    rules = [
        resource.initial_config.match_rule
        for resource in resources
        if isinstance(resource.initial_config, WebhookResourceConfig)
    ]
    return [
        error
        for rule, other in itertools.combinations(rules, 2)
        if (error := rule.list_compatibility_errors(other)) is not None
    ]


CATCH_ALL_DISCRIMINATOR = UrlDiscriminator()
"""Routes every request to a single binding."""


class WebhookCaptureSpec(BaseModel, Generic[_WebhookDocument]):
    """How a connector's pushed documents are split into bindings (see ``create_resources``)."""

    name: str = Field(
        default="webhook-data",
        description="Unique name representing the set of captured messages",
    )
    key: list[str] = Field(
        default=list(WEBHOOK_KEY),  # pydantic copies it per instance
        description="Location of each document's unique identifier",
    )
    discriminator: CollectionDiscriminatorSpec = Field(
        default_factory=UrlDiscriminator,
        description="Strategy for routing incoming webhooks to collections",
        discriminator="type",
    )
    # Code-only: not part of the JSON config, its schema or its serialization.
    document_model: SkipJsonSchema[type[_WebhookDocument]] = Field(
        default=WebhookDocument,  # type: ignore[assignment]
        exclude=True,
    )

    def create_resources(self) -> list[WebhookResource[_WebhookDocument, WebhookResourceConfig]]:
        """One resource named ``name`` for the catch-all discriminator, else one resource per
        known value, named ``"{name}_{rule display name}"``."""
        if self.discriminator == CATCH_ALL_DISCRIMINATOR:
            return [self._resource(self.name, CATCH_ALL_DISCRIMINATOR.for_value("*"))]
        return [
            self._resource(f"{self.name}_{rule.display_name}", rule)
            for rule in self.discriminator.create_match_rules()
        ]

    def _resource(
        self, name: str, rule: CollectionMatchingSpec
    ) -> WebhookResource[_WebhookDocument, WebhookResourceConfig]:
        return WebhookResource[_WebhookDocument, WebhookResourceConfig](
            name=name,
            key=list(self.key),
            model=self.document_model,
            open=open_webhook_binding,
            initial_config=WebhookResourceConfig(name=name, match_rule=rule),
            schema_inference=True,
        )
