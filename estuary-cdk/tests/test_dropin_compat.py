"""Patterns found by running reference-kit connectors unmodified on this kit (the drop-in check):
each test pins one behaviour such a connector relies on, with a small model written here."""

from datetime import timedelta

import pytest
from estuary_cdk.capture import response
from estuary_cdk.capture.common import (
    BaseDocument,
    Resource,
    ResourceConfig,
    ResourceState,
    SnapshotResource,
    discovered,
)


class _Row(BaseDocument, extra="allow"):
    id: str


def _resource(name: str, **kwargs: object) -> Resource[_Row, ResourceConfig, ResourceState]:
    return Resource(
        name=name,
        key=["/id"],
        model=_Row,
        open=lambda *a: None,
        initial_state=ResourceState(),
        initial_config=ResourceConfig(name=name, interval=timedelta(minutes=5)),
        schema_inference=True,
        **kwargs,  # type: ignore[arg-type]
    )


def test_discovered_bindings_carry_is_fallback_key_only_when_true() -> None:
    """A connector that marks a key as a fallback (no natural identifier) gets it on the wire,
    between `key` and `disable`; the others leave it out, as the protocol omits defaults and the
    reference kit (and every connector's committed discover snapshot) never writes it: with
    `"isFallbackKey":false` no discover output was byte-identical to the reference's."""
    out = discovered([_resource("natural"), _resource("synthetic", is_fallback_key=True)])
    line = out.model_dump_json(by_alias=True, exclude_unset=True)
    bindings = response.Discovered[ResourceConfig].model_validate_json(line).bindings
    assert [b.isFallbackKey for b in bindings] == [False, True]
    first = line.index('"recommendedName":"natural"')
    second = line.index('"recommendedName":"synthetic"')
    assert line.find('"key":["/id"],"disable":false}', first, second) > 0
    assert "isFallbackKey" not in line[first:second]
    assert line.find('"key":["/id"],"isFallbackKey":true,"disable":false}', second) > 0


def test_is_fallback_key_defaults_to_false_and_is_keyword_only_compatible() -> None:
    """Reference connectors pass `is_fallback_key=` by keyword; leaving it out means false."""
    assert _resource("plain").is_fallback_key is False
    assert _resource("fallback", is_fallback_key=True).is_fallback_key is True


def test_snapshot_resource_rejects_a_fallback_key() -> None:
    """Snapshot deletions are addressed by /_meta/row_id, so a user-changeable key would break them."""
    with pytest.raises(ValueError, match="fallback key"):
        SnapshotResource(
            name="snap",
            open=lambda *a: None,
            initial_config=ResourceConfig(name="snap"),
            is_fallback_key=True,
        )


def test_credential_models_import_from_http_as_in_the_reference() -> None:
    """`from estuary_cdk.http import AccessToken` (and the other credential models) is how
    reference connectors declare their auth; they are the kit's own classes, not copies."""
    from estuary_cdk import Mixin, _credentials, flow, http

    # Every credential model the kit defines (its helper function is not a model).
    names = [name for name in _credentials.__all__ if name[0].isupper()]
    assert "AccessToken" in names and "RotatingOAuth2Credentials" in names
    for name in names:
        assert getattr(http, name) is getattr(flow, name), name
    assert http.Mixin is Mixin


def test_an_api_key_model_built_on_http_access_token_validates_and_is_secret() -> None:
    """The source-ada pattern: an `AccessToken` subclass renaming the key field's title."""
    from estuary_cdk.http import AccessToken
    from pydantic import Field

    class ApiKey(AccessToken):
        access_token: str = Field(title="API Key", json_schema_extra={"secret": True})

    key = ApiKey.model_validate({"credentials_title": "Private App Credentials", "access_token": "k"})
    assert key.access_token == "k"
    schema = ApiKey.model_json_schema()
    assert schema["properties"]["access_token"]["secret"] is True
    assert schema["properties"]["credentials_title"]["const"] == "Private App Credentials"


def test_logger_imports_from_capture_common_as_in_the_reference() -> None:
    """Reference connectors import `Logger` from `estuary_cdk.capture.common` (it is the stdlib's)."""
    import logging

    from estuary_cdk.capture.common import Logger

    assert Logger is logging.Logger


def _descriptions(schema: object, path: str = "") -> list[str]:
    """Every place in a JSON schema that carries a model-level description (field descriptions
    live under `properties` and are not counted)."""
    found: list[str] = []
    if isinstance(schema, dict):
        if "description" in schema and "title" in schema and schema.get("type") == "object":
            found.append(path or "/")
        for key, value in schema.items():
            if key != "properties":
                found += _descriptions(value, f"{path}/{key}")
            else:
                for name, prop in value.items():
                    found += _descriptions(prop, f"{path}/properties/{name}")
    elif isinstance(schema, list):
        for i, item in enumerate(schema):
            found += _descriptions(item, f"{path}/{i}")
    return found


def test_resource_config_with_schedule_schema_has_no_model_description() -> None:
    """A connector's spec publishes this schema as `resourceConfigSchema`; the reference's has no
    description (source-aircall-native's spec differed only there)."""
    from estuary_cdk.capture.common import ResourceConfigWithSchedule

    schema = ResourceConfigWithSchedule.model_json_schema()
    assert _descriptions(schema) == []
    assert schema["title"] == "ResourceConfigWithSchedule"
    assert list(schema["properties"]) == ["_meta", "name", "interval", "schedule"]
    assert schema["properties"]["schedule"]["description"].startswith("Schedule to automatically rebackfill")


def test_webhook_resource_config_schema_has_no_model_descriptions() -> None:
    """Push connectors publish this as `resourceConfigSchema`, match rules included."""
    from estuary_cdk.capture.common import WebhookResourceConfig

    schema = WebhookResourceConfig.model_json_schema()
    assert _descriptions(schema) == []
    assert {"UrlMatch", "HeaderMatch", "BodyMatch"} <= set(schema["$defs"])


def test_the_description_finder_sees_a_docstring() -> None:
    """Guards the two tests above: a model with a docstring is reported."""
    from pydantic import BaseModel

    class Documented(BaseModel):
        """Has a description."""

        x: int

    assert _descriptions(Documented.model_json_schema()) == ["/"]


def test_webhook_match_types_import_from_capture_common_as_in_the_reference() -> None:
    """The reference's capture.common names the match rule types its webhook resource configs use."""
    from estuary_cdk.capture.common import CollectionMatchingSpec, UrlMatch, WebhookResourceConfig
    from estuary_cdk.capture.webhook import match

    assert UrlMatch is match.UrlMatch and CollectionMatchingSpec is match.CollectionMatchingSpec
    config = WebhookResourceConfig.model_validate(
        {"name": "orders", "match_rule": {"type": "url", "value": "/orders"}}
    )
    assert config.match_rule == UrlMatch(value="/orders")


async def test_a_capture_connector_is_its_own_http_session_without_mixing_it_in() -> None:
    """Reference connectors write `class Connector(BaseCaptureConnector[...])` and then call
    `self.request(...)` (or hand `self` to fetch functions as `http`): the kit's base class is the
    HTTPSession, and `serve` opens and closes its aiohttp session."""
    import io
    from collections.abc import AsyncGenerator
    from typing import Any

    from aiohttp import web
    from estuary_cdk.capture import BaseCaptureConnector, Request, Task
    from estuary_cdk.http import HTTPSession
    from estuary_cdk.logger import init_logger
    from estuary_cdk.testing import serve_app
    from pydantic import BaseModel

    class Config(BaseModel):
        url: str

    class State(BaseModel, extra="allow"):
        pass

    fetched: list[bytes] = []

    class Plain(BaseCaptureConnector[Config, ResourceConfig, State]):
        def request_class(self) -> type[Request[Config, ResourceConfig, State]]:
            return Request[Config, ResourceConfig, State]

        async def spec(self, log: Any, _: Any) -> Any:
            raise NotImplementedError

        async def discover(self, log: Any, discover: Any) -> Any:
            raise NotImplementedError

        async def validate(self, log: Any, validate: Any) -> Any:
            raise NotImplementedError

        async def open(self, log: Any, open: Any) -> Any:
            async def run(task: Task) -> None:
                fetched.append(await self.request(task.log, open.capture.config.url))

            return response.Opened(explicitAcknowledgements=False), run

    async def hello(_: web.Request) -> web.Response:
        return web.Response(body=b"hi there")

    app = web.Application()
    app.router.add_get("/hello", hello)
    async with serve_app(app) as server:
        connector = Plain()
        assert isinstance(connector, HTTPSession)
        connector.output = io.BytesIO()
        line = {
            "open": {
                "capture": {
                    "name": "a/b",
                    "config": {"url": server.url_for("/hello")},
                    "intervalSeconds": 1,
                    "bindings": [],
                },
                "version": "v",
                "state": {},
            }
        }

        async def requests(cls: type[BaseModel]) -> AsyncGenerator[Any, None]:
            yield cls.model_validate(line)

        await connector.serve(init_logger(), requests)
    assert fetched == [b"hi there"]
    assert connector.inner.closed


def test_snapshot_resource_takes_the_document_and_config_type_parameters() -> None:
    """`SnapshotResource[Doc, Config]` (source-calendly, -hubspot-native, -posthog): two type
    parameters as in the reference, its state always a ResourceState; a third is refused."""
    from estuary_cdk.capture.common import ResourceState

    alias = SnapshotResource[_Row, ResourceConfig]
    snap = alias(name="snap", open=lambda *a: None, initial_config=ResourceConfig(name="snap"), model=_Row)
    assert isinstance(snap, SnapshotResource) and isinstance(snap.initial_state, ResourceState)
    assert snap.key == ["/_meta/row_id"]
    with pytest.raises(TypeError):
        SnapshotResource[_Row, ResourceConfig, ResourceState]  # type: ignore[misc]


def test_fetch_function_aliases_are_generic_in_the_document() -> None:
    """`FetchChangesFn[Doc]` and its siblings subscript as in the reference (source-stripe-native
    annotates with `FetchChangesFn[BaseDocument]`); the bare alias stays usable."""
    import typing
    from collections.abc import AsyncGenerator

    from estuary_cdk.capture import common

    for name in ("FetchChangesFn", "FetchPageFn", "RecurringFetchPageFn", "FetchSnapshotFn"):
        alias = getattr(common, name)
        concrete = alias[_Row]
        generator = typing.get_args(concrete)[-1]
        assert typing.get_origin(generator) is AsyncGenerator, name
        assert _Row in typing.get_args(typing.get_args(generator)[0]), name
        with pytest.raises(TypeError):
            alias[_Row, _Row]


def test_resolvable_binding_is_the_binding_type_variable_of_resolve_bindings() -> None:
    """`common._ResolvableBinding` (source-salesforce-native, -zendesk-support-native, -zuora
    annotate with it) is a TypeVar bound to the bindings `resolve_bindings` takes."""
    import typing

    from estuary_cdk.capture import common, request
    from estuary_cdk.flow import CaptureBinding

    var = common._ResolvableBinding
    assert isinstance(var, typing.TypeVar)
    assert set(typing.get_args(var.__bound__)) == {CaptureBinding, request.ValidateBinding}
    typing.List[var][0]  # noqa: UP006 - usable as a type parameter, as connectors use it
