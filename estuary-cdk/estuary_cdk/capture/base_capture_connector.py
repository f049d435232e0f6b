"""`BaseCaptureConnector`: dispatches capture requests to a connector's methods and runs the
capture session of an `open` request.

When the runtime closes the input of a session with explicit acknowledgements, no
acknowledgement can arrive anymore: the capture is asked to stop, every task awaiting one gets
`AcknowledgementsEnded` at once (a webhook request waiting for it is answered 503), and later
checkpoints that would wait are refused unwritten. That is a shutdown, not a connector failure:
if those are the only errors, the process exits 0 and its last line is a WARNING counting the
checkpoints left unacknowledged; any other error still exits 1 with its message last.
"""

from __future__ import annotations

import abc
import asyncio
import gc
import os
import sys
from collections.abc import AsyncGenerator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, BinaryIO, Generic

from pydantic import BaseModel

from .. import BaseConnector, ConnectorError, Stopped, stdin_jsonl
from ..flow import (
    PROTOCOL_VERSION,
    ConnectorSpec,
    ConnectorState,
    EndpointConfig,
    ResourceConfig,
    RotatingOAuth2Credentials,
)
from ..http import HTTPMixin
from ..logger import FlowLogger, register_secrets_in
from ..utils import format_error_message, get_running_tasks_info, sort_dict
from . import request, response
from ._emit import drain_all, emit_bytes
from .connector_status import ConnectorStatus
from .request import Request
from .response import Response
from .task import Stopping, Task, checkpoint_line
from .transactor import AcknowledgementsEnded, Transactor

__all__ = [
    "DEFAULT_ENCRYPTION_URL",
    "ENCRYPTION_URL",
    "GRACEFUL_SHUTDOWN_TIMEOUT",
    "PERIODIC_RESTART_INTERVAL",
    "TASK_CANCELLATION_TIMEOUT",
    "WEBHOOK_SHUTDOWN_TIMEOUT",
    "BaseCaptureConnector",
    "ConfigEncryptionError",
    "TerminateTaskGroup",
    "force_terminate_task_group",
]

DEFAULT_ENCRYPTION_URL = "https://config-encryption.estuary.dev/v1/encrypt-config"
ENCRYPTION_URL = os.getenv("ENCRYPTION_URL") or DEFAULT_ENCRYPTION_URL

PERIODIC_RESTART_INTERVAL = timedelta(hours=24)
"""A capture stops gracefully after this long so the runtime restarts it (fresh process, fresh
state reduction). Override per connector with `periodic_restart_interval`, or for a whole
process with the environment variable `ESTUARY_CDK_PERIODIC_RESTART_SECONDS`."""

GRACEFUL_SHUTDOWN_TIMEOUT = timedelta(minutes=30)
TASK_CANCELLATION_TIMEOUT = timedelta(minutes=5)
WEBHOOK_SHUTDOWN_TIMEOUT = timedelta(minutes=1)
"""How long the webhook server may take to finish its requests in flight and close, once every
other capture task stopped."""

_RESTART_ENV = "ESTUARY_CDK_PERIODIC_RESTART_SECONDS"
_ROTATE_BEFORE_EXPIRY = timedelta(minutes=5)


class TerminateTaskGroup(Exception):
    """Capture tasks did not stop within the graceful-shutdown timeout and were cancelled."""


async def force_terminate_task_group() -> None:
    """Run as a task of an `asyncio.TaskGroup` to make the whole group cancel its tasks."""
    raise TerminateTaskGroup()


class ConfigEncryptionError(ConnectorError):
    """The updated endpoint config could not be encrypted, so it cannot be published."""


Runner = Callable[[Task], Awaitable[None]]


class BaseCaptureConnector(
    BaseConnector[Request[EndpointConfig, ResourceConfig, ConnectorState]],
    # Every capture is its own HTTPSession, as in the reference kit: connectors call
    # `self.request(...)` / pass `self` as `http` without mixing HTTPMixin in themselves.
    HTTPMixin,
    Generic[EndpointConfig, ResourceConfig, ConnectorState],
):
    output: BinaryIO = sys.stdout.buffer
    periodic_restart_interval: timedelta | None = None
    graceful_shutdown_timeout: timedelta = GRACEFUL_SHUTDOWN_TIMEOUT
    task_cancellation_timeout: timedelta = TASK_CANCELLATION_TIMEOUT
    webhook_shutdown_timeout: timedelta = WEBHOOK_SHUTDOWN_TIMEOUT

    _transactor: Transactor | None = None
    _session: tuple[FlowLogger, Stopping] | None = None
    _input_closed: bool = False

    # -- the connector's part ------------------------------------------------------------------

    @abc.abstractmethod
    async def spec(self, log: FlowLogger, _: request.Spec) -> ConnectorSpec:
        raise NotImplementedError()

    @abc.abstractmethod
    async def discover(
        self, log: FlowLogger, discover: request.Discover[EndpointConfig]
    ) -> response.Discovered[ResourceConfig]:
        raise NotImplementedError()

    @abc.abstractmethod
    async def validate(
        self, log: FlowLogger, validate: request.Validate[EndpointConfig, ResourceConfig]
    ) -> response.Validated:
        raise NotImplementedError()

    async def apply(
        self, log: FlowLogger, apply: request.Apply[EndpointConfig, ResourceConfig]
    ) -> response.Applied:
        return response.Applied(actionDescription="")

    @abc.abstractmethod
    async def open(
        self, log: FlowLogger, open: request.Open[EndpointConfig, ResourceConfig, ConnectorState]
    ) -> tuple[response.Opened, Runner]:
        raise NotImplementedError()

    async def update_config(
        self, log: FlowLogger, config: EndpointConfig
    ) -> tuple[str, EndpointConfig] | None:
        """Return `(message, new_config)` to replace the endpoint config before the capture
        opens (e.g. a migration); the new config is encrypted and published via a configUpdate
        event. The default changes nothing."""
        return None

    async def acknowledge(self, acknowledge: request.Acknowledge) -> None:
        if self._transactor is not None:
            self._transactor.deliver_ack(acknowledge.checkpoints)

    # -- dispatch ------------------------------------------------------------------------------

    async def serve(
        self,
        log: FlowLogger | None = None,
        requests: Callable[[type[Any]], AsyncGenerator[Any, None]] = stdin_jsonl,
    ) -> None:
        async def watched(cls: type[Any]) -> AsyncGenerator[Any, None]:
            async for item in requests(cls):
                yield item
            self._input_ended()

        await super().serve(log, watched)

    def _input_ended(self) -> None:
        """The runtime closed our input. A capture waiting for acknowledgements can get none
        anymore, so it stops gracefully rather than wait forever (e.g. a webhook request that
        is answered only once acknowledged), and every task awaiting an acknowledgement gets
        `AcknowledgementsEnded` at once rather than when the graceful-shutdown timer cancels
        it. Without explicit acknowledgements the runtime may close the input right after
        ``open``, and the capture carries on."""
        self._input_closed = True
        self._end_acknowledgements()

    def _end_acknowledgements(self) -> None:
        """Stop a session with explicit acknowledgements whose input closed. Called when the
        input ends and again once the session is set up (the input may end during ``open``)."""
        transactor, session = self._transactor, self._session
        if session is None or transactor is None or not transactor.requires_explicit_acks:
            return
        if not self._input_closed or transactor.acknowledgements_ended:
            return
        log, stopping = session
        if not stopping.event.is_set():
            log.info("input closed: no acknowledgement can arrive anymore, so the capture stops")
            stopping.event.set()
        transactor.end_acknowledgements()

    def _handle_concurrently(self, request: Request[EndpointConfig, ResourceConfig, ConnectorState]) -> bool:
        # Only a capture session runs alongside later lines (acknowledgements); unary requests
        # are answered one at a time so responses come out in request order.
        return request.open is not None

    async def handle(
        self, log: FlowLogger, request: Request[EndpointConfig, ResourceConfig, ConnectorState]
    ) -> None:
        if request.spec is not None:
            spec = await self.spec(log, request.spec)
            spec.protocol = PROTOCOL_VERSION
            await self._emit(Response(spec=spec))
        elif request.discover is not None:
            register_secrets_in(request.discover.config)
            discovered = await self.discover(log, request.discover)
            await self._emit(Response(discovered=discovered))
        elif request.validate_ is not None:
            register_secrets_in(request.validate_.config)
            validated = await self.validate(log, request.validate_)
            await self._emit(Response(validated=validated))
        elif request.apply is not None:
            register_secrets_in(request.apply.capture.config)
            applied = await self.apply(log, request.apply)
            await self._emit(Response(applied=applied))
        elif request.open is not None:
            register_secrets_in(request.open.capture.config)
            await self._open(log, request.open)
        elif request.acknowledge is not None:
            await self.acknowledge(request.acknowledge)
        else:
            raise RuntimeError(
                "malformed request: none of spec, discover, validate, apply, open, acknowledge"
            )

    async def _emit(self, response: Response[Any, Any, Any]) -> None:
        """Write one response line. Each member is serialized by its own model, so a connector's
        parametrized models (e.g. `Discovered[MyResourceConfig]`) keep their exact output."""
        for name in response.model_fields_set:
            value = getattr(response, name)
            if value is None:
                continue
            body = value.__pydantic_serializer__.to_json(value, by_alias=True, exclude_unset=True)
            await emit_bytes(b'{"' + name.encode() + b'":' + body + b"}\n", self.output)
            return
        raise RuntimeError("response has no member set")

    async def _checkpoint(self, state: ConnectorState, merge_patch: bool = True) -> None:
        """Emit a checkpoint outside any task (no documents)."""
        await emit_bytes(checkpoint_line(state, merge_patch), self.output)

    async def _drain_output(self) -> None:
        await drain_all()

    # -- the capture session -------------------------------------------------------------------

    def _restart_interval(self) -> timedelta:
        if self.periodic_restart_interval is not None:
            return self.periodic_restart_interval
        env = os.getenv(_RESTART_ENV)
        if env:
            try:
                return timedelta(seconds=float(env))
            except ValueError:
                raise ValueError(f"{_RESTART_ENV} must be a number of seconds, got {env!r}") from None
        return PERIODIC_RESTART_INTERVAL

    async def _open(
        self, log: FlowLogger, open: request.Open[EndpointConfig, ResourceConfig, ConnectorState]
    ) -> None:
        update = await self.update_config(log, open.capture.config)
        if update is not None:
            message, new_config = update
            encrypted = await self._encrypt_config(log, new_config)
            open.capture.config = new_config
            register_secrets_in(new_config)
            log.event.config_update(message, encrypted)

        opened, capture = await self.open(log, open)
        await self._emit(Response(opened=opened))

        transactor = Transactor(self.output, requires_explicit_acks=opened.explicitAcknowledgements)
        self._transactor = transactor

        await self._rotate_oauth2_tokens(log, open)

        # Everything alive now (modules, models, resources) lives for the whole session: move it
        # out of the cyclic collector's way, so its full collections stay cheap while the
        # capture allocates millions of short-lived documents.
        gc.freeze()

        stopping = Stopping()
        self._session = (log, stopping)
        self._end_acknowledgements()
        status = ConnectorStatus(log, stopping)
        session = asyncio.current_task()
        terminated = asyncio.Event()
        watchers = [
            asyncio.create_task(self._periodic_restart(log, stopping), name="periodic-restart"),
            asyncio.create_task(
                self._enforce_shutdown(log, stopping, session, terminated), name="shutdown-enforcer"
            ),
        ]
        try:
            async with asyncio.TaskGroup() as tg:
                task = Task(
                    log.getChild("capture"),
                    status,
                    "capture",
                    self.output,
                    stopping,
                    tg,
                    transactor,
                    catalog_task_name=open.capture.name,
                    requires_ack=opened.explicitAcknowledgements,
                )
                started = "Capture started."
                if not open.capture.bindings:
                    started += " No bindings are enabled."
                log.event.status(started)
                try:
                    await capture(task)
                except AcknowledgementsEnded as exc:
                    # The capture is stopping (the input closed); its child tasks still finish
                    # gracefully, and the outcome is reported once they did.
                    log.debug(f"capture: {exc}")
        except asyncio.CancelledError:
            if terminated.is_set():
                raise Stopped(
                    "capture tasks did not stop within "
                    f"{self.graceful_shutdown_timeout} of being asked to and were cancelled"
                ) from None
            raise
        finally:
            await self._stop_webhook_server(log, stopping)
            for watcher in watchers:
                watcher.cancel()
            status.close()

        self._report_unacknowledged(log, transactor)
        if stopping.first_error is not None:
            raise Stopped(f"Task {stopping.first_error_task}: {format_error_message(stopping.first_error)}")
        raise Stopped(None)

    def _report_unacknowledged(self, log: FlowLogger, transactor: Transactor) -> None:
        """A capture whose input closed before every checkpoint was acknowledged still exits
        0: the runtime ending our input is a shutdown, not a connector failure. Say so, since
        what became of those checkpoints' documents is unknown to us."""
        if not transactor.acknowledgements_ended:
            return
        left, refused = transactor.unacknowledged, transactor.refused
        if not left and not refused:
            return
        parts = []
        if left:
            parts.append(
                f"{left} written checkpoint(s) were left unacknowledged, "
                "so their documents may or may not be durable"
            )
        if refused:
            parts.append(f"{refused} checkpoint(s) were not written")
        log.warning(
            "the runtime closed the input before acknowledging every checkpoint: "
            + " and ".join(parts)
            + "; the next session resumes from the last state the runtime committed",
            {"unacknowledged": left, "not_written": refused},
        )

    async def _stop_webhook_server(self, log: FlowLogger, stopping: Stopping) -> None:
        """Once every other capture task stopped, let the webhook server (if any) answer 503 to
        new requests, finish those in flight and close."""
        server = stopping.webhook_task
        if server is None:
            return
        stopping.webhook_event.set()
        timeout = self.webhook_shutdown_timeout
        try:
            await asyncio.wait_for(server, timeout.total_seconds())
        except TimeoutError:
            log.error(f"the webhook server did not shut down within {timeout}; exiting")
            await drain_all()
            os._exit(1)
        except Exception as exc:
            stopping.record_error(exc, "webhook-server")

    async def _periodic_restart(self, log: FlowLogger, stopping: Stopping) -> None:
        interval = self._restart_interval()
        await asyncio.sleep(interval.total_seconds())
        log.info("stopping for the periodic restart", {"interval": interval})
        stopping.event.set()

    async def _enforce_shutdown(
        self,
        log: FlowLogger,
        stopping: Stopping,
        session: asyncio.Task[Any] | None,
        terminated: asyncio.Event,
    ) -> None:
        await stopping.event.wait()
        await asyncio.sleep(self.graceful_shutdown_timeout.total_seconds())
        running = [
            {"task_name": i.task_name, "coro_name": i.coro_name, "stack_trace": i.stack_trace}
            for i in get_running_tasks_info(exclude_tasks=[t for t in [asyncio.current_task()] if t])
        ]
        log.warning(
            f"Graceful exit has not finished in {self.graceful_shutdown_timeout}. Cancelling capture tasks.",
            {"running_task_count": len(running), "running_tasks": running},
        )
        terminated.set()
        if session is not None:
            session.cancel()
        await asyncio.sleep(self.task_cancellation_timeout.total_seconds())
        log.error(f"capture tasks were not cancelled within {self.task_cancellation_timeout}; exiting")
        await drain_all()
        os._exit(1)

    # -- config updates ------------------------------------------------------------------------

    async def _encrypt_config(self, log: FlowLogger, config: EndpointConfig) -> dict[str, Any]:
        """Encrypt `config` with Estuary's config-encryption service (`ENCRYPTION_URL`): the
        control plane only accepts sops-encrypted replacement configs."""
        url = (
            os.getenv("ENCRYPTION_URL")
            or os.getenv("ESTUARY_CONFIG_ENCRYPTION_URL")
            or DEFAULT_ENCRYPTION_URL
        )
        if isinstance(config, BaseModel):
            plain = config.model_dump(mode="json", by_alias=True, include=config.model_fields_set)
            schema = type(config).model_json_schema()
        elif isinstance(config, dict):
            plain, schema = config, {}
        else:
            raise ConfigEncryptionError(f"cannot encrypt an endpoint config of type {type(config).__name__}")
        # Keys sorted: sops' MAC depends on key order and Flow sorts keys too.
        body = {"config": sort_dict(plain), "schema": schema}
        import aiohttp  # Only needed here; keeps connector start-up light.

        try:
            async with aiohttp.ClientSession() as session, session.post(url, json=body) as resp:
                text = await resp.text()
                if resp.status >= 300:
                    raise ConfigEncryptionError(
                        f"config encryption service at {url} answered HTTP {resp.status}: {text[:500]}"
                    )
                try:
                    encrypted = await resp.json(content_type=None)
                except ValueError as exc:
                    raise ConfigEncryptionError(
                        f"config encryption service at {url} returned invalid JSON: {exc}"
                    ) from None
        except aiohttp.ClientError as exc:
            raise ConfigEncryptionError(
                f"could not reach the config encryption service at {url}: {format_error_message(exc)}"
            ) from exc
        if not isinstance(encrypted, dict):
            raise ConfigEncryptionError(f"config encryption service at {url} did not return a JSON object")
        return encrypted

    async def _rotate_oauth2_tokens(
        self, log: FlowLogger, open: request.Open[EndpointConfig, ResourceConfig, ConnectorState]
    ) -> None:
        """Rotate the access/refresh tokens of `RotatingOAuth2Credentials` that expire within
        five minutes, and publish the new tokens with a configUpdate event."""
        token_source = getattr(self, "token_source", None)
        credentials = getattr(token_source, "credentials", None)
        if not isinstance(credentials, RotatingOAuth2Credentials):
            return
        expires_at = credentials.access_token_expires_at
        if expires_at.tzinfo is None:
            expires_at = expires_at.replace(tzinfo=UTC)
        if expires_at > datetime.now(tz=UTC) + _ROTATE_BEFORE_EXPIRY:
            return
        initialize = getattr(token_source, "initialize_oauth2_tokens", None)
        if initialize is None:
            raise RuntimeError("the token source cannot exchange OAuth2 tokens (no initialize_oauth2_tokens)")
        log.info("Attempting to rotate OAuth2 tokens.")
        tokens = await initialize(log, self)
        credentials.access_token = tokens.access_token
        if tokens.refresh_token:
            credentials.refresh_token = tokens.refresh_token
        credentials.access_token_expires_at = datetime.now(tz=UTC) + timedelta(seconds=tokens.expires_in or 0)
        register_secrets_in(credentials)
        encrypted = await self._encrypt_config(log, open.capture.config)
        log.event.config_update("Rotating OAuth2 tokens in endpoint config.", encrypted)
