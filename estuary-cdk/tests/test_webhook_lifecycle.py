"""A capture mixing a webhook binding with a pull binding, served in process: the server keeps
accepting documents while pull tasks take their time to stop, and closes once they did."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncGenerator
from logging import Logger
from typing import Any

import aiohttp
import pytest
from estuary_cdk.capture import BaseCaptureConnector, Request, common, request, response
from estuary_cdk.capture.webhook import WebhookCaptureSpec, WebhookResourceConfig
from estuary_cdk.capture.webhook.server import WEBHOOK_HOST_ENV, WEBHOOK_PORT_ENV
from estuary_cdk.flow import ConnectorSpec
from local_ports import free_port, wait_listening
from pydantic import BaseModel

ConnectorState = common.ConnectorState[common.ResourceState]


class Config(BaseModel):
    pass


class MixedConnector(BaseCaptureConnector[Config, Any, ConnectorState]):
    """A webhook binding (without explicit acknowledgements, so replies follow the write) next
    to a pull binding whose backfill blocks until `release` is set."""

    def __init__(self) -> None:
        self.output = io.BytesIO()
        self.fetching = asyncio.Event()
        self.release = asyncio.Event()

    def request_class(self) -> type[Request[Config, Any, ConnectorState]]:
        return Request[Config, WebhookResourceConfig, ConnectorState]

    async def spec(self, log: Logger, _: request.Spec) -> ConnectorSpec:
        raise NotImplementedError

    async def discover(self, log: Logger, discover: request.Discover[Config]) -> response.Discovered[Any]:
        raise NotImplementedError

    async def validate(self, log: Logger, validate: request.Validate[Config, Any]) -> response.Validated:
        raise NotImplementedError

    def resources(self) -> list[common.Resource[Any, Any, Any]]:
        [hook] = WebhookCaptureSpec(name="hooks").create_resources()
        hook.requires_explicit_acks = False

        async def fetch_page(log: Logger, page: Any, cutoff: Any) -> AsyncGenerator[Any, None]:
            self.fetching.set()
            await self.release.wait()
            return
            yield

        def open_slow(binding: Any, index: int, state: Any, task: Any, all_bindings: Any) -> None:
            common.open_binding(binding, index, state, task, fetch_page=fetch_page)

        slow = common.Resource(
            name="slow",
            key=["/id"],
            model=common.BaseDocument,
            open=open_slow,
            initial_state=common.ResourceState(backfill=common.ResourceState.Backfill(cutoff=0)),
            initial_config=common.ResourceConfig(name="slow"),
            schema_inference=True,
        )
        return [hook, slow]

    async def open(self, log: Logger, open: request.Open[Config, Any, ConnectorState]) -> tuple[Any, Any]:
        return common.open(open, common.resolve_bindings(open.capture.bindings, self.resources()))


def open_line(names: list[str]) -> dict[str, Any]:
    return {
        "open": {
            "capture": {
                "name": "acmeCo/mixed",
                "config": {},
                "intervalSeconds": 300,
                "bindings": [
                    {
                        "collection": {"name": f"acmeCo/{n}", "key": ["/_meta/webhookId"], "writeSchema": {}},
                        "resourceConfig": {"name": n},
                        "resourcePath": [n],
                        "stateKey": n,
                        "backfill": 0,
                    }
                    for n in names
                ],
            },
            "version": "v1",
            "range": {},
            "state": {},
        }
    }


async def test_the_server_outlives_slow_pull_tasks_and_then_closes(monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    monkeypatch.setenv(WEBHOOK_PORT_ENV, str(port))
    monkeypatch.setenv(WEBHOOK_HOST_ENV, "127.0.0.1")
    connector = MixedConnector()

    async def requests(cls: type[Any]) -> AsyncGenerator[Any, None]:
        # The input ends right after `open`: without explicit acknowledgements, that does not
        # stop the capture.
        yield cls.model_validate(open_line(["hooks", "slow"]))

    serving = asyncio.create_task(connector.serve(requests=requests))
    url = f"http://127.0.0.1:{port}/x"
    async with aiohttp.ClientSession() as http:
        await wait_listening(port)
        await asyncio.wait_for(connector.fetching.wait(), 10)
        async with http.post(url, json={"n": 1}) as resp:
            assert resp.status == 200

        # Asked to stop, but the pull binding is still busy: documents are still accepted.
        assert connector._capture_session is not None
        stopping = connector._capture_session.stopping
        assert not stopping.event.is_set()  # The input ended, but that asks nothing to stop.
        stopping.event.set()
        await asyncio.sleep(0.05)
        assert not stopping.webhook_event.is_set()
        async with http.post(url, json={"n": 2}) as resp:
            assert resp.status == 200

        # Once the pull task is done, the server closes and the capture ends cleanly.
        connector.release.set()
        await asyncio.wait_for(serving, 10)
        assert stopping.webhook_event.is_set()
        assert stopping.webhook_task is not None and stopping.webhook_task.done()
        with pytest.raises(aiohttp.ClientConnectionError):
            async with http.post(url, json={"n": 3}):
                pass

    out = connector.output.getvalue().decode().splitlines()
    docs = [line for line in out if line.startswith('{"captured"')]
    assert [('"n":1' in d, '"n":2' in d) for d in docs] == [(True, False), (False, True)]
