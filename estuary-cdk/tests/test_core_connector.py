"""BaseCaptureConnector in-process: OAuth2 token rotation at open, config encryption, the
graceful-shutdown enforcer and mixin lifecycle."""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import AsyncGenerator, AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from aiohttp import web
from estuary_cdk import Mixin, Stopped
from estuary_cdk.capture import BaseCaptureConnector, Request, Task, request, response
from estuary_cdk.flow import ConnectorSpec, OAuth2Spec, RotatingOAuth2Credentials
from estuary_cdk.logger import FlowLogger, LogFormatter, init_logger
from pydantic import BaseModel

OAUTH = OAuth2Spec(
    provider="acme",
    accessTokenBody="",
    authUrlTemplate="",
    accessTokenHeaders={},
    accessTokenResponseMap={},
    accessTokenUrlTemplate="http://127.0.0.1:1/token",
)
Credentials = RotatingOAuth2Credentials.for_provider("acme")


class Config(BaseModel):
    credentials: Credentials  # type: ignore[valid-type]
    region: str = "eu"


class Resource(BaseModel):
    name: str


class State(BaseModel, extra="allow"):
    pass


class FakeTokens:
    access_token = "new-access-token"
    refresh_token = "new-refresh-token"
    expires_in = 3600


class FakeTokenSource:
    def __init__(self, credentials: Any) -> None:
        self.credentials = credentials
        self.calls = 0

    async def initialize_oauth2_tokens(self, log: logging.Logger, session: Any) -> FakeTokens:
        self.calls += 1
        return FakeTokens()


Runner = Any


class Connector(BaseCaptureConnector[Config, Resource, State]):
    def __init__(self, runner: Runner | None = None) -> None:
        self.runner = runner
        self.token_source: FakeTokenSource | None = None

    def request_class(self) -> type[Request[Config, Resource, State]]:
        return Request[Config, Resource, State]

    async def spec(self, log: Any, _: request.Spec) -> ConnectorSpec:
        raise NotImplementedError

    async def discover(self, log: Any, discover: Any) -> Any:
        raise NotImplementedError

    async def validate(self, log: Any, validate: Any) -> Any:
        raise NotImplementedError

    async def open(self, log: Any, open: request.Open[Config, Resource, State]) -> Any:
        self.token_source = FakeTokenSource(open.capture.config.credentials)

        async def default(task: Task) -> None:
            return None

        return response.Opened(explicitAcknowledgements=False), self.runner or default


def open_line(expires_at: datetime) -> dict[str, Any]:
    creds = {
        "credentials_title": "OAuth Credentials",
        "client_id": "cid",
        "client_secret": "csecret",
        "refresh_token": "old-refresh",
        "access_token": "old-access",
        "access_token_expires_at": expires_at.isoformat(),
    }
    return {
        "open": {
            "capture": {
                "name": "a/b",
                "config": {"credentials": creds},
                "intervalSeconds": 1,
                "bindings": [],
            },
            "version": "v",
            "state": {},
        }
    }


def requests_of(*lines: dict[str, Any]) -> Any:
    async def gen(cls: type[BaseModel]) -> AsyncGenerator[Any, None]:
        for line in lines:
            yield cls.model_validate(line)

    return gen


class Received(list[Any]):
    """The bodies the encryption service accepted; statuses in `failures` answer the next
    requests first."""

    failures: list[int]


@pytest.fixture
async def encryption_service(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Received]:
    received = Received()
    received.failures = []

    async def encrypt(req: web.Request) -> web.Response:
        if received.failures:
            return web.Response(status=received.failures.pop(0), text="unavailable")
        received.append(await req.json())
        return web.json_response({"encrypted": True})

    app = web.Application()
    app.router.add_post("/encrypt", encrypt)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    monkeypatch.setenv("ENCRYPTION_URL", f"http://127.0.0.1:{port}/encrypt")
    yield received
    await runner.cleanup()


@pytest.fixture
def log_lines() -> AsyncIterator[tuple[FlowLogger, io.StringIO]]:
    log = init_logger()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(LogFormatter())
    log.addHandler(handler)
    yield log, stream  # type: ignore[misc]
    log.removeHandler(handler)


async def test_expiring_rotating_tokens_are_rotated_and_published(
    encryption_service: list[Any], log_lines: tuple[FlowLogger, io.StringIO]
) -> None:
    log, stream = log_lines
    connector = Connector()
    connector.output = io.BytesIO()
    await connector.serve(log, requests=requests_of(open_line(datetime.now(tz=UTC) + timedelta(minutes=1))))
    assert connector.token_source is not None and connector.token_source.calls == 1
    creds = connector.token_source.credentials
    assert creds.access_token == "new-access-token" and creds.refresh_token == "new-refresh-token"
    assert creds.access_token_expires_at > datetime.now(tz=UTC) + timedelta(minutes=50)
    (body,) = encryption_service
    assert body["config"]["credentials"]["refresh_token"] == "new-refresh-token"
    events = [orjson.loads(line) for line in stream.getvalue().splitlines()]
    updates = [e for e in events if e["fields"].get("eventType") == "configUpdate"]
    assert updates and updates[0]["msg"] == "Rotating OAuth2 tokens in endpoint config."
    assert updates[0]["fields"]["config"] == {"encrypted": True}
    assert "new-refresh-token" not in stream.getvalue()


async def test_rotation_rides_out_a_brief_encryption_outage(
    encryption_service: Received, log_lines: tuple[FlowLogger, io.StringIO]
) -> None:
    """Rotated tokens are encrypted by the HTTP layer's `encrypt_config` (the kit's one client of
    the service), so a 503 is retried instead of losing the new refresh token."""
    log, stream = log_lines
    encryption_service.failures.append(503)
    connector = Connector()
    connector.output = io.BytesIO()
    await connector.serve(log, requests=requests_of(open_line(datetime.now(tz=UTC) + timedelta(minutes=1))))
    (body,) = encryption_service
    assert body["config"]["credentials"]["refresh_token"] == "new-refresh-token"
    assert '"configUpdate"' in stream.getvalue()


def test_the_connector_module_names_the_http_layers_encryption() -> None:
    from estuary_cdk import http
    from estuary_cdk.capture import base_capture_connector

    assert base_capture_connector.ConfigEncryptionError is http.ConfigEncryptionError
    assert base_capture_connector.ENCRYPTION_URL == http.DEFAULT_ENCRYPTION_URL
    assert not hasattr(base_capture_connector, "DEFAULT_ENCRYPTION_URL")


async def test_one_fake_clock_drives_rotation_and_the_capture_tasks(encryption_service: Received) -> None:
    """The connector's `clock` decides token expiry at open and is the tasks' clock: set to a
    fake one, tokens that are fresh by the real clock but expiring by the fake one rotate, with
    the new expiry counted from the fake now."""
    from estuary_cdk.testing import FakeClock

    clock = FakeClock(start=datetime(2030, 1, 1, tzinfo=UTC))
    seen: list[Any] = []

    async def runner(task: Task) -> None:
        seen.append(task.clock)

    connector = Connector(runner)
    connector.clock = clock
    connector.output = io.BytesIO()
    await connector.serve(requests=requests_of(open_line(datetime(2030, 1, 1, 0, 1, tzinfo=UTC))))
    assert connector.token_source is not None and connector.token_source.calls == 1
    assert connector.token_source.credentials.access_token_expires_at == clock.now() + timedelta(hours=1)
    assert seen == [clock]


async def test_tokens_far_from_expiry_are_left_alone(encryption_service: list[Any]) -> None:
    connector = Connector()
    connector.output = io.BytesIO()
    await connector.serve(requests=requests_of(open_line(datetime.now(tz=UTC) + timedelta(hours=2))))
    assert connector.token_source is not None and connector.token_source.calls == 0
    assert encryption_service == []
    assert connector.output.getvalue() == b'{"opened":{"explicitAcknowledgements":false}}\n'


async def test_graceful_shutdown_enforcer_cancels_stuck_tasks(
    log_lines: tuple[FlowLogger, io.StringIO],
) -> None:
    log, stream = log_lines

    async def stuck(task: Task) -> None:
        async def forever(child: Task) -> None:
            await asyncio.Event().wait()

        task.spawn_child("stuck", forever)
        task.stopping.event.set()

    connector = Connector(stuck)
    connector.output = io.BytesIO()
    connector.graceful_shutdown_timeout = timedelta(seconds=0.05)
    with pytest.raises(SystemExit) as info:
        await connector.serve(log, requests=requests_of(open_line(datetime.now(tz=UTC) + timedelta(hours=2))))
    assert info.value.code == 1
    events = [orjson.loads(line) for line in stream.getvalue().splitlines()]
    warning = next(e for e in events if e["level"] == "WARNING")
    assert warning["msg"].startswith("Graceful exit has not finished in 0:00:00.050000")
    assert warning["fields"]["args"]["running_task_count"] >= 1
    assert events[-1]["level"] == "ERROR"
    assert events[-1]["msg"].startswith("capture tasks did not stop within")


async def test_mixins_of_direct_bases_enter_and_exit_once_in_order() -> None:
    calls: list[str] = []

    class First(Mixin):
        async def _mixin_enter(self, log: Any) -> None:
            calls.append("enter first")

        async def _mixin_exit(self, log: Any) -> None:
            calls.append("exit first")

    class Second(Mixin):
        async def _mixin_enter(self, log: Any) -> None:
            calls.append("enter second")

        async def _mixin_exit(self, log: Any) -> None:
            calls.append("exit second")

    class Both(Connector, First, Second):
        pass

    connector = Both()
    connector.output = io.BytesIO()
    await connector.serve(requests=requests_of())
    assert calls == ["enter first", "enter second", "exit second", "exit first"]


async def test_stopped_with_error_exits_one_and_stopped_none_exits_zero() -> None:
    class Stopper(Connector):
        def __init__(self, error: str | None) -> None:
            super().__init__()
            self.error = error

        async def handle(self, log: Any, request: Any) -> None:
            raise Stopped(self.error)

    await Stopper(None).serve(requests=requests_of({"acknowledge": {}}))
    with pytest.raises(SystemExit):
        await Stopper("went wrong").serve(requests=requests_of({"acknowledge": {}}))
