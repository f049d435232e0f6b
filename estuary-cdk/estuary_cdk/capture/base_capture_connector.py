"""`BaseCaptureConnector`: dispatches capture requests to a connector's methods (the hooks a
connector author overrides) and hands an `open` to a `CaptureSession` (`session.py`), which owns
everything that lives as long as the capture runs.
"""

from __future__ import annotations

import abc
import gc
import os
from collections.abc import Mapping
from datetime import UTC, timedelta
from typing import Any, Generic, cast

from pydantic import BaseModel

from .. import BaseConnector
from ..flow import (
    PROTOCOL_VERSION,
    ConnectorSpec,
    ConnectorState,
    EndpointConfig,
    ResourceConfig,
    RotatingOAuth2Credentials,
)
from ..http import ENCRYPTION_URL, ConfigEncryptionError, HTTPMixin, encrypt_config
from ..http._interactive import answering
from ..http._rotation import ROTATION_MESSAGE
from ..logger import FlowLogger, register_secrets_in
from . import request, response
from .request import Request
from .response import Response
from .session import CaptureSession, Runner, SessionLimits

# `ENCRYPTION_URL` and `ConfigEncryptionError` are the HTTP layer's (`estuary_cdk.http`), the kit's
# one config-encryption client, re-exported here where the reference kit and earlier versions of
# this kit defined them (see `estuary_cdk._compat`).
__all__ = [
    "ENCRYPTION_URL",
    "GRACEFUL_SHUTDOWN_TIMEOUT",
    "PERIODIC_RESTART_INTERVAL",
    "TASK_CANCELLATION_TIMEOUT",
    "WEBHOOK_SHUTDOWN_TIMEOUT",
    "BaseCaptureConnector",
    "ConfigEncryptionError",
]

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


def _plain_or_model(config: object) -> BaseModel | Mapping[str, Any]:
    """The endpoint config as `encrypt_config` takes it (a connector's `EndpointConfig` is
    unconstrained; `encrypt_config` refuses, with a clear error, anything else)."""
    return cast("BaseModel | Mapping[str, Any]", config)


class BaseCaptureConnector(
    BaseConnector[Request[EndpointConfig, ResourceConfig, ConnectorState]],
    # Every capture is its own HTTPSession, as in the reference kit: connectors call
    # `self.request(...)` / pass `self` as `http` without mixing HTTPMixin in themselves.
    HTTPMixin,
    Generic[EndpointConfig, ResourceConfig, ConnectorState],
):
    periodic_restart_interval: timedelta | None = None
    graceful_shutdown_timeout: timedelta = GRACEFUL_SHUTDOWN_TIMEOUT
    task_cancellation_timeout: timedelta = TASK_CANCELLATION_TIMEOUT
    webhook_shutdown_timeout: timedelta = WEBHOOK_SHUTDOWN_TIMEOUT

    _capture_session: CaptureSession | None = None
    _early_acks: int = 0
    """Checkpoints acknowledged before the `open` handler created its session."""

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
        opens (e.g. a migration); the new config is encrypted (`estuary_cdk.http.encrypt_config`)
        and published via a configUpdate event. The default changes nothing."""
        return None

    async def acknowledge(self, acknowledge: request.Acknowledge) -> None:
        session = self._capture_session
        if session is None:
            # The `open` handler runs as its own task and may not have started yet when the
            # next line (this acknowledgement) is read: its session counts it once it exists.
            self._early_acks += acknowledge.checkpoints
            return
        session.acknowledge(acknowledge.checkpoints)

    # -- dispatch ------------------------------------------------------------------------------

    def _handle_concurrently(self, request: Request[EndpointConfig, ResourceConfig, ConnectorState]) -> bool:
        # Only a capture session runs alongside later lines (acknowledgements); unary requests
        # are answered one at a time so responses come out in request order.
        return request.open is not None

    async def handle(
        self, log: FlowLogger, request: Request[EndpointConfig, ResourceConfig, ConnectorState]
    ) -> None:
        for where, key in getattr(request, "unknown_config_keys", ()):
            log.warning(key.describe(where), {"config": where, "key": key.path, "model": key.model})
        if request.spec is not None:
            spec = await self.spec(log, request.spec)
            spec.protocol = PROTOCOL_VERSION
            await self._emit(Response(spec=spec))
        elif request.discover is not None:
            register_secrets_in(request.discover.config)
            with answering("discover"):
                discovered = await self.discover(log, request.discover)
            await self._emit(Response(discovered=discovered))
        elif request.validate_ is not None:
            register_secrets_in(request.validate_.config)
            with answering("validate"):
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
            self.writer.write(b'{"' + name.encode() + b'":' + body + b"}\n")
            await self.writer.throttle()
            return
        raise RuntimeError("response has no member set")

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
        limits = SessionLimits(
            restart_interval=self._restart_interval(),
            graceful_shutdown_timeout=self.graceful_shutdown_timeout,
            task_cancellation_timeout=self.task_cancellation_timeout,
            webhook_shutdown_timeout=self.webhook_shutdown_timeout,
        )
        session = self._capture_session = CaptureSession(log, self.writer, limits, self.clock)
        early, self._early_acks = self._early_acks, 0
        if early:
            session.acknowledge(early)
        self.input_end.subscribe(session.input_closed)

        update = await self.update_config(log, open.capture.config)
        if update is not None:
            message, new_config = update
            encrypted = await encrypt_config(log, _plain_or_model(new_config))
            open.capture.config = new_config
            register_secrets_in(new_config)
            log.event.config_update(message, encrypted)

        opened, capture = await self.open(log, open)
        await self._emit(Response(opened=opened))
        session.start(opened.explicitAcknowledgements)
        await self._rotate_oauth2_tokens(log, open)

        # Everything alive now (modules, models, resources) lives for the whole session: move it
        # out of the cyclic collector's way, so its full collections stay cheap while the
        # capture allocates millions of short-lived documents.
        gc.freeze()
        await session.run(capture, open.capture.name, bool(open.capture.bindings))

    # -- config updates ------------------------------------------------------------------------

    async def _rotate_oauth2_tokens(
        self, log: FlowLogger, open: request.Open[EndpointConfig, ResourceConfig, ConnectorState]
    ) -> None:
        """Rotate the access/refresh tokens of `RotatingOAuth2Credentials` that expire within
        five minutes, and publish the new tokens with a configUpdate event (encrypted with
        `estuary_cdk.http.encrypt_config`, under the message `persist_rotated_credentials` uses)."""
        token_source = getattr(self, "token_source", None)
        credentials = getattr(token_source, "credentials", None)
        if not isinstance(credentials, RotatingOAuth2Credentials):
            return
        expires_at = credentials.access_token_expires_at
        if expires_at.tzinfo is None:
            expires_at = expires_at.replace(tzinfo=UTC)
        if expires_at > self.clock.now() + _ROTATE_BEFORE_EXPIRY:
            return
        initialize = getattr(token_source, "initialize_oauth2_tokens", None)
        if initialize is None:
            raise RuntimeError("the token source cannot exchange OAuth2 tokens (no initialize_oauth2_tokens)")
        log.info("Attempting to rotate OAuth2 tokens.")
        tokens = await initialize(log, self)
        credentials.access_token = tokens.access_token
        if tokens.refresh_token:
            credentials.refresh_token = tokens.refresh_token
        credentials.access_token_expires_at = self.clock.now() + timedelta(seconds=tokens.expires_in or 0)
        register_secrets_in(credentials)
        encrypted = await encrypt_config(log, _plain_or_model(open.capture.config))
        log.event.config_update(ROTATION_MESSAGE, encrypted)
