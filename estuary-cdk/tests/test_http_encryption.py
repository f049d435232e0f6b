"""`encrypt_config`: the kit's one client of the config encryption service, alone or through a
session, against a local fake of the service."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from estuary_cdk import ConnectorError
from estuary_cdk.http import (
    DEFAULT_ENCRYPTION_URL,
    ConfigEncryptionError,
    RetryPolicy,
    config_encryption_url,
    encrypt_config,
    register_secret,
)
from estuary_cdk.testing import FakeClock, LocalServer, capture_logger, open_http_session, serve_app
from local_ports import free_port
from pydantic import BaseModel, Field


class Config(BaseModel):
    token: str = Field(json_schema_extra={"secret": True})
    zone: str = "eu"
    advanced: dict[str, Any] = {}


async def _encrypt(request: web.Request) -> web.Response:
    body = await request.json()
    return web.json_response({"received": body, "sops": {"mac": "m"}})


@pytest.fixture
async def service() -> AsyncIterator[LocalServer]:
    app = web.Application()
    app.router.add_post("/v1/encrypt-config", _encrypt)
    async with serve_app(app) as srv:
        yield srv


def test_the_service_url_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ENCRYPTION_URL", raising=False)
    monkeypatch.delenv("ESTUARY_CONFIG_ENCRYPTION_URL", raising=False)
    assert config_encryption_url() == DEFAULT_ENCRYPTION_URL
    monkeypatch.setenv("ESTUARY_CONFIG_ENCRYPTION_URL", "http://second.test/e")
    assert config_encryption_url() == "http://second.test/e"
    monkeypatch.setenv("ENCRYPTION_URL", "http://first.test/e")
    assert config_encryption_url() == "http://first.test/e"


async def test_on_its_own_it_sends_the_set_fields_sorted_with_the_schema(
    service: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ENCRYPTION_URL", service.url_for("/v1/encrypt-config"))
    log, _ = capture_logger()
    config = Config(zone="us", token="tok-1234", advanced={"b": 1, "a": {"d": 2, "c": 3}})
    encrypted = await encrypt_config(log, config)
    sent = encrypted["received"]
    assert list(sent["config"]) == ["advanced", "token", "zone"]
    assert list(sent["config"]["advanced"]) == ["a", "b"] and list(sent["config"]["advanced"]["a"]) == [
        "c",
        "d",
    ]
    assert sent["schema"]["properties"]["token"]["secret"] is True
    assert encrypted["sops"] == {"mac": "m"}
    (request,) = service.requests
    assert "Authorization" not in request.headers

    # Unset fields are not restated; a plain mapping goes without a schema.
    assert list((await encrypt_config(log, Config(token="tok-1234")))["received"]["config"]) == ["token"]
    plain = await encrypt_config(
        log, {"z": 1, "a": [{"y": 2, "x": 1}]}, encryption_url=service.url_for("/v1/encrypt-config")
    )
    assert plain["received"] == {"config": {"a": [{"x": 1, "y": 2}], "z": 1}, "schema": {}}


async def test_through_a_session_its_retry_policy_applies(service: LocalServer) -> None:
    log, _ = capture_logger()
    clock = FakeClock()
    service.faults.status(503, path="/v1/encrypt-config")
    async with open_http_session(log, clock=clock, retry_policy=RetryPolicy(jitter=0)) as http:
        encrypted = await encrypt_config(
            log, Config(token="tok-1234"), session=http, encryption_url=service.url_for("/v1/encrypt-config")
        )
    assert encrypted["received"]["config"] == {"token": "tok-1234"}
    assert clock.sleeps == [1.0]


async def test_failures_are_connector_errors_naming_the_service(service: LocalServer) -> None:
    log, _ = capture_logger()
    url = service.url_for("/v1/encrypt-config")
    register_secret("tok-echoed-9a8b7c")
    service.faults.status(
        400, path="/v1/encrypt-config", body=b'{"error":"bad schema","echo":"tok-echoed-9a8b7c"}'
    )
    with pytest.raises(ConfigEncryptionError) as err:
        await encrypt_config(log, Config(token="tok-echoed-9a8b7c"), encryption_url=url)
    assert isinstance(err.value, ConnectorError)
    assert (
        str(err.value)
        == f'config encryption service at {url} answered HTTP 400: {{"error":"bad schema","echo":"[redacted]"}}'
    )

    service.faults.status(200, path="/v1/encrypt-config", body=b"<html>")
    with pytest.raises(
        ConfigEncryptionError, match=f"^config encryption service at {url} returned invalid JSON: "
    ):
        await encrypt_config(log, Config(token="tok-1234"), encryption_url=url)
    service.faults.status(200, path="/v1/encrypt-config", body=b"[1, 2]")
    with pytest.raises(ConfigEncryptionError, match="did not return a JSON object"):
        await encrypt_config(log, Config(token="tok-1234"), encryption_url=url)
    with pytest.raises(ConfigEncryptionError, match="cannot encrypt an endpoint config of type int"):
        await encrypt_config(log, 42, encryption_url=url)  # type: ignore[arg-type]

    nowhere = f"http://127.0.0.1:{free_port()}/v1/encrypt-config"
    async with open_http_session(log, clock=FakeClock(), retry_policy=RetryPolicy(max_attempts=2)) as http:
        with pytest.raises(ConfigEncryptionError) as err:
            await encrypt_config(log, Config(token="tok-1234"), session=http, encryption_url=nowhere)
    assert str(err.value).startswith(
        f"could not reach the config encryption service at {nowhere}: Request failed after 2 attempts"
    )
    assert "\n" not in str(err.value)
