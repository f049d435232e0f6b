"""Flow capture connector for the Hacker News API (v0)."""

from collections.abc import Awaitable, Callable
from logging import Logger

from estuary_cdk import cli
from estuary_cdk.capture import BaseCaptureConnector, Request, Task, common, request, response
from estuary_cdk.flow import ConnectorSpec
from estuary_cdk.http import HTTPError, HTTPMixin

from . import api
from .models import ConnectorState, EndpointConfig, ResourceConfig
from .resources import all_resources


class Connector(
    BaseCaptureConnector[EndpointConfig, ResourceConfig, ConnectorState],
    HTTPMixin,
):
    @classmethod
    def request_class(cls) -> type[Request[EndpointConfig, ResourceConfig, ConnectorState]]:
        return Request[EndpointConfig, ResourceConfig, ConnectorState]

    async def spec(self, log: Logger, _: request.Spec) -> ConnectorSpec:
        return ConnectorSpec(
            documentationUrl="https://github.com/HackerNews/API",
            configSchema=EndpointConfig.model_json_schema(),
            resourceConfigSchema=ResourceConfig.model_json_schema(),
            resourcePathPointers=ResourceConfig.PATH_POINTERS,
        )

    async def discover(
        self, log: Logger, discover: request.Discover[EndpointConfig]
    ) -> response.Discovered[ResourceConfig]:
        return common.discovered(await all_resources(log, self, discover.config))

    async def validate(
        self, log: Logger, validate: request.Validate[EndpointConfig, ResourceConfig]
    ) -> response.Validated:
        # Reading maxitem proves the base URL serves the Hacker News API.
        try:
            await api.fetch_maxitem(self, validate.config.base_url, log)
        except (HTTPError, api.HackerNewsError) as err:
            raise common.ValidationError(
                [f"cannot read {validate.config.base_url}/v0/maxitem.json: {err}"]
            ) from err
        resources = await all_resources(log, self, validate.config)
        return common.validated(common.resolve_bindings(validate.bindings, resources))

    async def open(
        self, log: Logger, open: request.Open[EndpointConfig, ResourceConfig, ConnectorState]
    ) -> tuple[response.Opened, Callable[[Task], Awaitable[None]]]:
        config = open.capture.config
        maxitem = await api.fetch_maxitem(self, config.base_url, log)
        resources = await all_resources(log, self, config, maxitem)
        return common.open(open, common.resolve_bindings(open.capture.bindings, resources))


def main() -> None:
    """The `connector` script: serve the protocol, or run one command for a human."""
    cli.main(Connector())
