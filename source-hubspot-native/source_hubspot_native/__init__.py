"""Flow capture connector for HubSpot: CRM objects with their properties and associations."""

from collections.abc import Awaitable, Callable, Sequence
from logging import Logger
from typing import Any

from estuary_cdk import cli
from estuary_cdk.capture import BaseCaptureConnector, Request, Task, common, request, response
from estuary_cdk.flow import ConnectorSpec
from estuary_cdk.http import HTTPError, HTTPMixin

from .api.client import HubSpotError
from .config import OAUTH2_SPEC, EndpointConfig
from .models import ConnectorState, ResourceConfig
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
            documentationUrl="https://go.estuary.dev/source-hubspot-native",
            configSchema=EndpointConfig.model_json_schema(),
            oauth2=OAUTH2_SPEC,
            resourceConfigSchema=ResourceConfig.model_json_schema(),
            resourcePathPointers=ResourceConfig.PATH_POINTERS,
        )

    async def discover(
        self, log: Logger, discover: request.Discover[EndpointConfig]
    ) -> response.Discovered[ResourceConfig]:
        return common.discovered(await all_resources(log, self, discover.config, with_schemas=True))

    async def validate(
        self, log: Logger, validate: request.Validate[EndpointConfig, ResourceConfig]
    ) -> response.Validated:
        # Listing the account's object types reads HubSpot with the credentials: a wrong token
        # or base URL is one clear error here rather than a failing capture later.
        try:
            resources = await all_resources(log, self, validate.config)
        except (HTTPError, HubSpotError) as err:
            raise common.ValidationError(
                [f"cannot read HubSpot at {validate.config.base_url}: {err}"]
            ) from err
        return common.validated(resolve(validate.bindings, resources))

    async def open(
        self, log: Logger, open: request.Open[EndpointConfig, ResourceConfig, ConnectorState]
    ) -> tuple[response.Opened, Callable[[Task], Awaitable[None]]]:
        resources = await all_resources(log, self, open.capture.config)
        return common.open(open, resolve(open.capture.bindings, resources))


def resolve(bindings: Sequence[Any], resources: Sequence[Any]) -> list[tuple[Any, Any]]:
    """Each binding with its resource. A bound binding the account no longer offers most often
    lost its scope (discovery logged which one it lacks): say so, once per binding, rather than
    the bare "not found" of a resource that never existed."""
    offered = {r.name for r in resources}
    gone = [b.resourceConfig.name for b in bindings if b.resourceConfig.name not in offered]
    if gone:
        raise common.ValidationError(
            [
                f"binding {name!r} is not offered by this HubSpot account: its credentials lack the scope it "
                "needs (logged above), or the object no longer exists; grant the scope or disable the binding"
                for name in gone
            ]
        )
    return common.resolve_bindings(bindings, resources)


def main() -> None:
    """The `connector` script: serve the protocol, or run one command for a human."""
    cli.main(Connector())
