"""The webhook server in process: routing, `_meta`, emission, acknowledgements, errors,
shutdown and start-up failures. Servers listen on 127.0.0.1 only, on free ports."""

from __future__ import annotations

import asyncio
import io
import json
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from estuary_cdk.capture.common import Resource
from estuary_cdk.capture.connector_status import ConnectorStatus
from estuary_cdk.capture.task import Task
from estuary_cdk.capture.transactor import Transactor
from estuary_cdk.capture.webhook import (
    BodyDiscriminator,
    HeaderDiscriminator,
    UrlDiscriminator,
    WebhookCaptureSpec,
    WebhookDocument,
    WebhookResourceConfig,
    build_webhook_app,
    start_webhook_server,
)
from estuary_cdk.capture.webhook.match import HeaderMatch, UrlMatch
from estuary_cdk.capture.webhook.resources import WebhookResource, open_webhook_binding
from estuary_cdk.capture.webhook.server import WEBHOOK_PORT_ENV, WebhookServerError
from estuary_cdk.logger import init_logger
from local_ports import free_port, wait_listening

EMPTY_CHECKPOINT = '{"checkpoint":{"state":{"updated":{},"mergePatch":true}}}'


def make_task(tg: asyncio.TaskGroup, output: io.BytesIO, *, acks: bool) -> Task:
    log = init_logger()
    stopping = Task.Stopping()
    status = ConnectorStatus(log, stopping)
    status.close()
    transactor = Transactor(output, requires_explicit_acks=acks)
    return Task(log, status, "capture", output, stopping, tg, transactor, "acmeCo/test", requires_ack=acks)


def resources(*specs: WebhookCaptureSpec[Any]) -> dict[int, Any]:
    return dict(enumerate(r for spec in specs for r in spec.create_resources()))


@dataclass
class Harness:
    task: Task
    out: io.BytesIO
    http: aiohttp.ClientSession
    base: str

    async def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.out.getvalue().decode().splitlines()]

    async def raw_lines(self) -> list[str]:
        return self.out.getvalue().decode().splitlines()

    async def post(self, path: str, body: Any, **kwargs: Any) -> tuple[int, str]:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        async with self.http.post(self.base + path, data=data, **kwargs) as resp:
            return resp.status, await resp.text()

    async def wait_for_lines(self, count: int) -> list[dict[str, Any]]:
        for _ in range(500):
            got = await self.lines()
            if len(got) >= count:
                return got
            await asyncio.sleep(0.01)
        raise AssertionError(f"expected {count} output lines, have {await self.raw_lines()}")


@asynccontextmanager
async def served(mapping: dict[int, Any], *, acks: bool = False) -> AsyncIterator[Harness]:
    out = io.BytesIO()
    async with asyncio.TaskGroup() as tg:
        task = make_task(tg, out, acks=acks)
        app = build_webhook_app(mapping, task)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        try:
            async with aiohttp.ClientSession() as http:
                yield Harness(task, out, http, f"http://127.0.0.1:{server.port}")
        finally:
            await server.close()


CATCH_ALL = WebhookCaptureSpec(name="all")


async def test_a_document_is_captured_with_request_meta_and_an_empty_checkpoint() -> None:
    async with served(resources(CATCH_ALL)) as h:
        status, text = await h.post("/hooks/orders?shop=acme&x=1", {"id": 7}, headers={"X-Custom": "yes"})
        assert (status, json.loads(text)) == (200, {"published": 1})
        captured, checkpoint = await h.lines()

    assert checkpoint == json.loads(EMPTY_CHECKPOINT)
    assert captured["captured"]["binding"] == 0
    doc = captured["captured"]["doc"]
    meta = doc.pop("_meta")
    assert doc == {"id": 7}
    assert meta["op"] == "u"
    assert meta["reqPath"] == "/hooks/orders"
    assert meta["pathParams"] == {"path": "hooks/orders"}
    assert meta["queryParams"] == {"shop": "acme", "x": "1"}
    assert meta["headers"]["X-Custom"] == "yes"
    assert uuid.UUID(meta["webhookId"]).version == 4
    assert datetime.fromisoformat(meta["receivedAt"]).tzinfo is not None
    assert "row_id" not in meta


async def test_an_array_is_routed_per_document_and_emitted_as_one_checkpoint() -> None:
    by_body = WebhookCaptureSpec(
        name="ev", discriminator=BodyDiscriminator(key="e.type", known_values={"a", "b"})
    )
    mapping = resources(by_body, CATCH_ALL)  # 0: ev_a, 1: ev_b, 2: all
    docs = [
        {"e": {"type": "b"}, "n": 1},
        {"e": {"type": "a"}, "n": 2},
        {"n": 3},
        {"e": {"type": "b"}, "n": 4},
    ]
    async with served(mapping) as h:
        status, text = await h.post("/", docs)
        assert (status, json.loads(text)) == (200, {"published": 4})
        raw = await h.raw_lines()
        lines = await h.lines()

    assert raw[-1] == EMPTY_CHECKPOINT
    assert len(raw) == 5
    routed = [(line["captured"]["binding"], line["captured"]["doc"]["n"]) for line in lines[:4]]
    assert routed == [(1, 1), (0, 2), (2, 3), (1, 4)]
    ids = {line["captured"]["doc"]["_meta"]["webhookId"] for line in lines[:4]}
    assert len(ids) == 4


async def test_the_most_specific_rule_wins() -> None:
    mapping = {
        0: WebhookCaptureSpec(name="all").create_resources()[0],
        1: WebhookCaptureSpec(
            name="u", discriminator=UrlDiscriminator(known_values={"/o/{id}", "/o/special"})
        ).create_resources()[0],  # /o/special
        2: WebhookCaptureSpec(
            name="u", discriminator=UrlDiscriminator(known_values={"/o/{id}", "/o/special"})
        ).create_resources()[1],  # /o/{id}
        3: WebhookCaptureSpec(
            name="h", discriminator=HeaderDiscriminator(key="X-Kind", known_values={"vip"})
        ).create_resources()[0],
    }
    async with served(mapping) as h:
        for path, headers in [
            ("/o/special", {}),
            ("/o/42", {}),
            ("/o/42", {"X-Kind": "vip"}),
            ("/elsewhere", {}),
        ]:
            assert (await h.post(path, {"p": path}, headers=headers))[0] == 200
        lines = [line for line in await h.lines() if "captured" in line]

    assert [line["captured"]["binding"] for line in lines] == [1, 2, 3, 0]
    # A URL rule's own parameters are reported next to the whole path.
    assert lines[1]["captured"]["doc"]["_meta"]["pathParams"] == {"path": "o/42", "id": "42"}


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (b"not json", 400, "Request body must be valid JSON"),
        (b"", 400, "Request body must be valid JSON"),
        (b'{"a": 1', 400, "Request body must be valid JSON"),
        (b"42", 400, "Documents are expected to be JSON objects"),
        (b'[{"a": 1}, "x"]', 400, "Documents are expected to be JSON objects"),
        (b'[{"a": 1}, [1]]', 400, "Documents are expected to be JSON objects"),
    ],
)
async def test_bad_bodies_are_rejected_and_nothing_is_emitted(body: bytes, status: int, message: str) -> None:
    async with served(resources(CATCH_ALL)) as h:
        assert await h.post("/", body) == (status, message)
        assert await h.raw_lines() == []


async def test_an_unroutable_document_rejects_the_whole_request() -> None:
    only_orders = WebhookCaptureSpec(name="o", discriminator=UrlDiscriminator(known_values={"/orders"}))
    by_header = WebhookCaptureSpec(name="h", discriminator=HeaderDiscriminator(key="X-T", known_values={"t"}))
    by_body = WebhookCaptureSpec(name="b", discriminator=BodyDiscriminator(key="k", known_values={"v"}))
    async with served(resources(only_orders, by_header, by_body)) as h:
        assert await h.post("/other", {"a": 1}) == (404, "No matching binding for request")
        assert await h.post("/other", [{"k": "v"}, {"k": "w"}]) == (404, "No matching binding for request")
        assert await h.raw_lines() == []
        assert (await h.post("/other", [{"k": "v"}]))[0] == 200


async def test_an_empty_array_publishes_nothing() -> None:
    async with served(resources(CATCH_ALL)) as h:
        status, text = await h.post("/", [])
        assert (status, json.loads(text)) == (200, {"published": 0})
        assert await h.raw_lines() == []


async def test_a_document_that_does_not_fit_the_model_is_a_400() -> None:
    class Order(WebhookDocument):
        id: int

    spec = WebhookCaptureSpec[Order](name="orders", document_model=Order)
    async with served(resources(spec)) as h:
        status, text = await h.post("/", {"id": "not a number"})
        assert status == 400
        assert text.startswith("Document does not fit its binding's model: id: ")
        assert await h.raw_lines() == []
        assert (await h.post("/", {"id": 5}))[0] == 200
        [captured, _] = await h.lines()
        assert captured["captured"]["doc"]["id"] == 5


async def test_fixed_schema_resources_capture_plain_documents() -> None:
    resource = WebhookResource[Any, WebhookResourceConfig](
        name="raw",
        model=Resource.FixedSchema({"type": "object"}),
        open=open_webhook_binding,
        initial_config=WebhookResourceConfig(name="raw"),
    )
    async with served({0: resource}) as h:
        assert (await h.post("/x", {"a": 1}))[0] == 200
        [captured, _] = await h.lines()
    doc = captured["captured"]["doc"]
    assert doc["a"] == 1
    assert doc["_meta"]["reqPath"] == "/x"
    assert set(doc["_meta"]) >= {"webhookId", "receivedAt", "headers"}


async def test_the_reply_waits_for_the_runtime_acknowledgement() -> None:
    async with served(resources(CATCH_ALL), acks=True) as h:
        reply = asyncio.create_task(h.post("/", [{"n": 1}, {"n": 2}]))
        lines = await h.wait_for_lines(3)
        assert [("captured" in line) for line in lines] == [True, True, False]
        assert lines[2] == json.loads(EMPTY_CHECKPOINT)
        # Committed, but not acknowledged yet: no reply.
        await asyncio.sleep(0.1)
        assert not reply.done()
        h.task.transactor.deliver_ack(1)
        status, text = await asyncio.wait_for(reply, 10)
        assert (status, json.loads(text)) == (200, {"published": 2})


async def test_concurrent_requests_are_acknowledged_in_commit_order() -> None:
    async with served(resources(CATCH_ALL), acks=True) as h:
        first = asyncio.create_task(h.post("/", {"n": 1}))
        await h.wait_for_lines(2)
        second = asyncio.create_task(h.post("/", {"n": 2}))
        await h.wait_for_lines(4)
        h.task.transactor.deliver_ack(1)
        assert (await asyncio.wait_for(first, 10))[0] == 200
        await asyncio.sleep(0.05)
        assert not second.done()
        h.task.transactor.deliver_ack(1)
        assert (await asyncio.wait_for(second, 10))[0] == 200


async def test_requests_are_refused_with_503_once_shutting_down() -> None:
    async with served(resources(CATCH_ALL)) as h:
        h.task.stopping.webhook_event.set()
        assert await h.post("/", {"a": 1}) == (503, "Server shutting down")
        assert await h.raw_lines() == []


# -- start_webhook_server ---------------------------------------------------------------------


async def test_started_server_receives_documents_until_asked_to_stop() -> None:
    out = io.BytesIO()
    port = free_port()
    async with asyncio.TaskGroup() as tg:
        task = make_task(tg, out, acks=True)
        server = start_webhook_server(resources(CATCH_ALL), task, host="127.0.0.1", port=port)
        assert task.stopping.webhook_task is server
        await wait_listening(port)
        async with aiohttp.ClientSession() as http:
            reply = asyncio.create_task(http.post(f"http://127.0.0.1:{port}/a", json={"n": 1}))
            for _ in range(500):
                if len(out.getvalue().splitlines()) == 2:
                    break
                await asyncio.sleep(0.01)
            assert not reply.done()
            task.transactor.deliver_ack(1)
            resp = await asyncio.wait_for(reply, 10)
            assert resp.status == 200
            assert await resp.json() == {"published": 1}
            resp.release()

        task.stopping.webhook_event.set()
        await asyncio.wait_for(server, 10)
    assert task.stopping.first_error is None
    with pytest.raises(aiohttp.ClientConnectionError):
        async with aiohttp.ClientSession() as http:
            await http.post(f"http://127.0.0.1:{port}/a", json={})


async def test_a_port_in_use_stops_the_capture_with_an_error_naming_it() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        async with asyncio.TaskGroup() as tg:
            task = make_task(tg, io.BytesIO(), acks=True)
            server = start_webhook_server(resources(CATCH_ALL), task, host="127.0.0.1", port=port)
            await asyncio.wait_for(server, 10)
    assert task.stopping.event.is_set()
    assert task.stopping.first_error_task == "webhook-server"
    error = task.stopping.first_error
    assert isinstance(error, WebhookServerError)
    assert f"webhook server could not listen on port {port} of 127.0.0.1" in str(error)


async def test_the_port_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    monkeypatch.setenv(WEBHOOK_PORT_ENV, str(port))
    async with asyncio.TaskGroup() as tg:
        task = make_task(tg, io.BytesIO(), acks=False)
        server = start_webhook_server(resources(CATCH_ALL), task, host="127.0.0.1")
        await wait_listening(port)
        async with (
            aiohttp.ClientSession() as http,
            http.post(f"http://127.0.0.1:{port}/", json={"a": 1}) as resp,
        ):
            assert resp.status == 200
        task.stopping.webhook_event.set()
        await asyncio.wait_for(server, 10)


@pytest.mark.parametrize("value", ["http", "-1", "70000"])
async def test_a_bad_port_setting_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(WEBHOOK_PORT_ENV, value)
    async with asyncio.TaskGroup() as tg:
        task = make_task(tg, io.BytesIO(), acks=False)
        with pytest.raises(WebhookServerError, match=f"{WEBHOOK_PORT_ENV} must be a port number"):
            start_webhook_server(resources(CATCH_ALL), task)
    assert task.stopping.webhook_task is None


def test_header_and_url_rules_in_a_mapping_are_tried_by_priority() -> None:
    from estuary_cdk.capture.webhook.server import _routes

    mapping = {
        0: WebhookCaptureSpec(name="a").create_resources()[0],
        1: WebhookCaptureSpec(
            name="h", discriminator=HeaderDiscriminator(key="k", known_values={"v"})
        ).create_resources()[0],
    }
    assert [(i, type(rule)) for i, rule, _ in _routes(mapping)] == [(1, HeaderMatch), (0, UrlMatch)]


def test_a_repeated_header_keeps_its_first_value_and_name() -> None:
    from aiohttp.test_utils import make_mocked_request
    from estuary_cdk.capture.webhook.server import _headers
    from multidict import CIMultiDict

    req = make_mocked_request(
        "POST", "/", headers=CIMultiDict([("X-Custom", "yes"), ("x-custom", "again"), ("X-Other", "1")])
    )
    headers = _headers(req)
    assert headers == {"X-Custom": "yes", "X-Other": "1"}
    assert all(type(name) is str for name in headers)
