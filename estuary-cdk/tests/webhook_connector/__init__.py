"""A minimal push connector: its bindings come from a ``WebhookCaptureSpec`` in the endpoint
config. Used by the webhook protocol tests as a real subprocess:
``PYTHONPATH=tests python -m webhook_connector``."""

from __future__ import annotations

from logging import Logger
from typing import Any

from estuary_cdk.capture import BaseCaptureConnector, Request, common, request, response
from estuary_cdk.capture.webhook import WebhookCaptureSpec, WebhookDocument, WebhookResourceConfig
from estuary_cdk.flow import ConnectorSpec
from pydantic import BaseModel, Field

ConnectorState = common.ConnectorState[common.ResourceState]


class EndpointConfig(BaseModel):
    webhooks: WebhookCaptureSpec[WebhookDocument] = Field(default_factory=WebhookCaptureSpec)


def resources(config: EndpointConfig) -> list[common.Resource[Any, Any, Any]]:
    return list(config.webhooks.create_resources())


class Connector(BaseCaptureConnector[EndpointConfig, WebhookResourceConfig, ConnectorState]):
    def request_class(self) -> type[Request[EndpointConfig, WebhookResourceConfig, ConnectorState]]:
        return Request[EndpointConfig, WebhookResourceConfig, ConnectorState]

    async def spec(self, log: Logger, _: request.Spec) -> ConnectorSpec:
        return ConnectorSpec(
            documentationUrl="https://example.com/webhooks",
            configSchema=EndpointConfig.model_json_schema(),
            resourceConfigSchema=WebhookResourceConfig.model_json_schema(),
            resourcePathPointers=WebhookResourceConfig.PATH_POINTERS,
        )

    async def discover(
        self, log: Logger, discover: request.Discover[EndpointConfig]
    ) -> response.Discovered[WebhookResourceConfig]:
        return common.discovered(resources(discover.config))

    async def validate(
        self, log: Logger, validate: request.Validate[EndpointConfig, WebhookResourceConfig]
    ) -> response.Validated:
        return common.validated(common.resolve_bindings(validate.bindings, resources(validate.config)))

    async def open(
        self, log: Logger, open: request.Open[EndpointConfig, WebhookResourceConfig, ConnectorState]
    ) -> tuple[response.Opened, Any]:
        resolved = common.resolve_bindings(open.capture.bindings, resources(open.capture.config))
        return common.open(open, resolved)
