"""A host name that does not resolve (issue 11): while answering `validate` or `discover` the
user has just typed it, so the request fails at once naming the host (the reference kit took
about 5 s, we took 95 s of retries); during a capture it stays a transient fault and is retried."""

from __future__ import annotations

import socket
from typing import Any

import aiohttp
import pytest
from aiohttp.abc import AbstractResolver, ResolveResult
from estuary_cdk.capture.base_capture_connector import BaseCaptureConnector
from estuary_cdk.capture.common import ResourceConfig
from estuary_cdk.capture.request import Request
from estuary_cdk.http import HostNotFoundError, HTTPConnectionError, HTTPMixin, RetryPolicy
from estuary_cdk.http._interactive import answering, interactive_request
from estuary_cdk.logger import init_logger
from estuary_cdk.testing import FakeClock, open_http_session
from pydantic import BaseModel

HOST = "api.exampel.invalid"


class _NoSuchHost(AbstractResolver):
    """Every name fails as an unknown name does (no network needed); counts the lookups."""

    def __init__(self) -> None:
        self.lookups: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.lookups.append(host)
        raise OSError(socket.EAI_NONAME, "Name or service not known")

    async def close(self) -> None:
        pass


async def _resolving_nothing(http: HTTPMixin) -> _NoSuchHost:
    resolver = _NoSuchHost()
    await http.inner.close()
    http.inner = aiohttp.ClientSession(connector=aiohttp.TCPConnector(resolver=resolver))
    return resolver


@pytest.mark.parametrize("request_name", ["validate", "discover"])
async def test_an_unresolved_host_fails_at_once_while_a_user_waits(request_name: str) -> None:
    clock = FakeClock()
    async with open_http_session(clock=clock, retry_policy=RetryPolicy(jitter=0)) as http:
        resolver = await _resolving_nothing(http)
        started = clock.monotonic()
        with answering(request_name), pytest.raises(HostNotFoundError) as caught:
            await http.request(init_logger(), f"https://{HOST}/v2/items?api_key=s3cret")
    assert resolver.lookups == [HOST]  # one attempt, no retry
    assert clock.monotonic() == started  # and no backoff
    error = caught.value
    assert error.host == HOST and error.code == 0
    assert f"'{HOST}' could not be resolved while answering {request_name}" in str(error)
    assert "check it in the endpoint configuration" in str(error)
    assert "s3cret" not in str(error)
    assert isinstance(error.__cause__, aiohttp.ClientConnectorDNSError)


async def test_an_unresolved_host_during_a_capture_is_retried_as_transient() -> None:
    clock = FakeClock()
    policy = RetryPolicy(max_attempts=3, jitter=0, base_delay=1.0)
    async with open_http_session(clock=clock, retry_policy=policy) as http:
        resolver = await _resolving_nothing(http)
        assert interactive_request() is None
        with pytest.raises(HTTPConnectionError) as caught:
            await http.request(init_logger(), f"https://{HOST}/v2/items")
    assert resolver.lookups == [HOST] * 3
    assert not isinstance(caught.value, HostNotFoundError)
    assert "the host name could not be resolved" in str(caught.value)


async def test_the_connector_marks_validate_and_discover_and_only_them() -> None:
    """Through the capture connector's own dispatch: its `validate` and `discover` run marked,
    so a connector's requests in them fail fast; the mark ends with them."""

    class Config(BaseModel):
        url: str

    class State(BaseModel, extra="allow"):
        pass

    seen: dict[str, str | None] = {}

    class Probe(BaseCaptureConnector[Config, ResourceConfig, State], HTTPMixin):
        def request_class(self) -> type[Request[Config, ResourceConfig, State]]:
            return Request[Config, ResourceConfig, State]

        async def spec(self, log: Any, _: Any) -> Any:
            raise NotImplementedError

        async def discover(self, log: Any, discover: Any) -> Any:
            seen["discover"] = interactive_request()
            await self.request(log, discover.config.url)

        async def validate(self, log: Any, validate: Any) -> Any:
            seen["validate"] = interactive_request()
            await self.request(log, validate.config.url)

        async def open(self, log: Any, open: Any) -> Any:
            raise NotImplementedError

    log = init_logger()
    connector = Probe()
    connector.clock = FakeClock()
    await connector._mixin_enter(log)
    try:
        resolver = await _resolving_nothing(connector)
        config = {"url": f"https://{HOST}/me"}
        for name, body in (
            ("validate", {"name": "a/b", "connectorType": "IMAGE", "config": config, "bindings": []}),
            ("discover", {"connectorType": "IMAGE", "config": config}),
        ):
            request = Request[Config, ResourceConfig, State].model_validate({name: body})
            with pytest.raises(HostNotFoundError, match=f"while answering {name}"):
                await connector.handle(log, request)
        assert resolver.lookups == [HOST, HOST]
    finally:
        await connector._mixin_exit(log)
    assert seen == {"validate": "validate", "discover": "discover"}
    assert interactive_request() is None
