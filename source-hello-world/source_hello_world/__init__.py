"""source-hello-world: a capture that needs no network.

It generates greetings at a configurable rate with an integer incremental cursor, backfills a
configurable history, snapshots a small static table, resumes from its checkpoint, and can stop
itself after a number of greetings. It is the quickstart's connector (`make demo`) and a load
generator for benchmarks (`rate: 0`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from logging import Logger

from estuary_cdk import cli
from estuary_cdk.capture import BaseCaptureConnector, Request, Task, common, request, response
from estuary_cdk.flow import ConnectorSpec

from .models import ConnectorState, EndpointConfig, ResourceConfig
from .resources import all_resources

DOCUMENTATION_URL = "https://go.estuary.dev/source-hello-world"


class Connector(BaseCaptureConnector[EndpointConfig, ResourceConfig, ConnectorState]):
    @classmethod
    def request_class(cls) -> type[Request[EndpointConfig, ResourceConfig, ConnectorState]]:
        return Request[EndpointConfig, ResourceConfig, ConnectorState]

    async def spec(self, log: Logger, _: request.Spec) -> ConnectorSpec:
        return ConnectorSpec(
            documentationUrl=DOCUMENTATION_URL,
            configSchema=EndpointConfig.model_json_schema(),
            resourceConfigSchema=ResourceConfig.model_json_schema(),
            resourcePathPointers=ResourceConfig.PATH_POINTERS,
        )

    async def discover(
        self, log: Logger, discover: request.Discover[EndpointConfig]
    ) -> response.Discovered[ResourceConfig]:
        return common.discovered(all_resources(log, discover.config))

    async def validate(
        self, log: Logger, validate: request.Validate[EndpointConfig, ResourceConfig]
    ) -> response.Validated:
        resolved = common.resolve_bindings(validate.bindings, all_resources(log, validate.config))
        return common.validated(resolved)

    async def open(
        self, log: Logger, open: request.Open[EndpointConfig, ResourceConfig, ConnectorState]
    ) -> tuple[response.Opened, Callable[[Task], Awaitable[None]]]:
        resolved = common.resolve_bindings(open.capture.bindings, all_resources(log, open.capture.config))
        return common.open(open, resolved)


def main() -> None:
    """Body of the `connector` script: serves the protocol, or runs `spec|discover|validate|open`."""
    cli.main(Connector())
