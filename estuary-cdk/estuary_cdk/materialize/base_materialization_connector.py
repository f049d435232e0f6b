"""`BaseMaterializationConnector`: dispatches materialize requests to a connector's methods and
hands an `open` to a `MaterializeSession`, which runs the transactions until the input ends.

A connector implements `spec`, `validate`, `apply` and `open`; `open` returns the `Opened`
response and the `Transactor` that the session drives. Errors end the process like a capture's:
the reason is the last ERROR line (a `ConnectorError` or `ValidationError` without a
traceback), exit status 1.
"""

from __future__ import annotations

import abc
import gc
from collections.abc import AsyncGenerator, Callable
from typing import Any, Generic

from .. import BaseConnector
from .._errors import ConnectorError
from .._input import LineSource
from ..flow import PROTOCOL_VERSION
from ..logger import FlowLogger, init_logger, register_secrets_in
from . import request, response
from .request import EndpointConfig, Request, ResourceConfig
from .session import MaterializeSession
from .transactor import Transactor

__all__ = ["BaseMaterializationConnector"]


class BaseMaterializationConnector(
    BaseConnector[Request[EndpointConfig, ResourceConfig]],
    Generic[EndpointConfig, ResourceConfig],
):
    _source: LineSource | None = None

    # -- the connector's part ------------------------------------------------------------------

    @abc.abstractmethod
    async def spec(self, log: FlowLogger, spec: request.Spec) -> response.ConnectorSpec:
        raise NotImplementedError()

    @abc.abstractmethod
    async def validate(
        self, log: FlowLogger, validate: request.Validate[EndpointConfig, ResourceConfig]
    ) -> response.Validated:
        raise NotImplementedError()

    @abc.abstractmethod
    async def apply(
        self, log: FlowLogger, apply: request.Apply[EndpointConfig, ResourceConfig]
    ) -> response.Applied:
        raise NotImplementedError()

    @abc.abstractmethod
    async def open(
        self, log: FlowLogger, open: request.Open[EndpointConfig, ResourceConfig]
    ) -> tuple[response.Opened, Transactor]:
        raise NotImplementedError()

    # -- serving -------------------------------------------------------------------------------

    async def serve(
        self,
        log: FlowLogger | None = None,
        requests: Callable[[type[Any]], AsyncGenerator[Any, None]] | None = None,
        *,
        source: LineSource | None = None,
    ) -> None:
        """Serve the requests of `source` (stdin by default). A session reads the lines after
        `open` itself, so requests come from a `LineSource`; `requests` is accepted for the base
        signature's sake and serves unary requests only."""
        if requests is not None and source is not None:
            raise ValueError("pass either requests or source")
        if requests is None:
            self._source = source if source is not None else LineSource.stdin()
            requests = self._source.requests
        await super().serve(log or init_logger(), requests)

    def _handle_concurrently(self, request: Request[EndpointConfig, ResourceConfig]) -> bool:
        # Everything is handled in order; an `open` takes the rest of the input itself.
        return False

    async def handle(self, log: FlowLogger, request: Request[EndpointConfig, ResourceConfig]) -> None:
        if request.spec is not None:
            spec = await self.spec(log, request.spec)
            spec.protocol = PROTOCOL_VERSION
            await self._emit("spec", spec)
        elif request.validate_ is not None:
            register_secrets_in(request.validate_.config)
            await self._emit("validated", await self.validate(log, request.validate_))
        elif request.apply is not None:
            register_secrets_in(request.apply.materialization.config)
            await self._emit("applied", await self.apply(log, request.apply))
        elif request.open is not None:
            register_secrets_in(request.open.materialization.config)
            await self._open(log, request.open)
        else:
            raise RuntimeError("malformed request: none of spec, validate, apply, open")

    async def _emit(self, kind: str, body: Any) -> None:
        self.writer.write(response.to_json(kind, body))
        await self.writer.throttle()

    async def _open(self, log: FlowLogger, open: request.Open[EndpointConfig, ResourceConfig]) -> None:
        if self._source is None:
            raise ConnectorError(
                "a materialization session reads its input itself: serve it from a LineSource"
            )
        opened, transactor = await self.open(log, open)
        session = MaterializeSession(
            log, self.writer, self._source, transactor, open.materialization.bindings
        )
        self.input_end.subscribe(session.input_closed)
        try:
            await self._emit("opened", opened)
        except BaseException:
            await transactor.close()
            raise
        # Everything alive now lives for the whole session: out of the cyclic collector's way,
        # so its collections stay cheap while the loop allocates millions of short-lived values.
        gc.freeze()
        await session.run()
