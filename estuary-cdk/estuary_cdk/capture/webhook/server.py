"""The HTTP server of push captures: each POSTed JSON object (or array of objects) is routed to
a webhook binding, captured, and answered once the runtime committed it.

The server runs outside the capture's task group: pull tasks may take long to stop, and the
server keeps accepting documents until they did. Only then (``stopping.webhook_event``) does it
answer 503 and close. With explicit acknowledgements, a request whose acknowledgement can no
longer come (the runtime closed our input) is answered 503 at once as well, so that its sender
retries it rather than wait for a reply until the capture is cancelled.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from logging import Logger
from typing import Any
from uuid import uuid4

import pydantic
from aiohttp import web

from ... import ConnectorError
from .._engine.resources import Resource
from .._engine.state import ConnectorState
from ..document import AssociatedDocument
from ..task import MultipleWritersTask, Task
from ..transactor import AcknowledgementsEnded
from .match import CollectionMatchingSpec, UrlMatch
from .resources import WebhookResourceConfig

__all__ = [
    "DEFAULT_MAX_REQUEST_BYTES",
    "DEFAULT_WEBHOOK_PORT",
    "WEBHOOK_HOST_ENV",
    "WEBHOOK_PORT_ENV",
    "WebhookServerError",
    "build_webhook_app",
    "start_webhook_server",
]

DEFAULT_WEBHOOK_PORT = 8080
WEBHOOK_PORT_ENV = "ESTUARY_CDK_WEBHOOK_PORT"
"""Overrides the port the server listens on (``0`` picks a free one; the "Webhook server
listening" log line names it)."""
WEBHOOK_HOST_ENV = "ESTUARY_CDK_WEBHOOK_HOST"
"""Overrides the interface the server listens on (default: all interfaces)."""

DEFAULT_MAX_REQUEST_BYTES = 16 << 20
"""Largest accepted request body (aiohttp's default, 1 MiB, is small for batched pushes)."""

_DRAIN_SECONDS = 30.0
"""How long requests in flight may take to finish once the server closes."""


class WebhookServerError(ConnectorError):
    """The webhook server could not be configured or could not start listening."""


_Routes = list[tuple[int, CollectionMatchingSpec, Any]]


def _routes(binding_index_mapping: Mapping[int, Resource[Any, WebhookResourceConfig, Any]]) -> _Routes:
    """(binding index, rule, model) from the most specific rule to the least; rules of equal
    priority keep binding order."""
    routes = [
        (index, resource.initial_config.match_rule, resource.model)
        for index, resource in binding_index_mapping.items()
    ]
    routes.sort(key=lambda route: route[1].sort_key, reverse=True)
    return routes


async def _first_route(
    routes: _Routes, req: web.Request, log: Logger, raw_doc: dict[str, Any]
) -> tuple[int, CollectionMatchingSpec, Any] | None:
    for route in routes:
        if await route[1].matches(req, log, raw_doc):
            return route
    return None


def _headers(req: web.Request) -> dict[str, str]:
    # Plain `str` names (aiohttp's are a str subclass, which orjson rejects as keys); a repeated
    # header keeps its first value, as `dict(req.headers)` does in the reference kit.
    headers: dict[str, str] = {}
    seen: set[str] = set()
    for name, value in req.headers.items():
        if name.lower() not in seen:
            seen.add(name.lower())
            headers[str(name)] = value
    return headers


def _request_meta(req: web.Request, rule: CollectionMatchingSpec) -> dict[str, Any]:
    # `pathParams.path` is the whole path after its first '/', as the reference kit reports it
    # (from its catch-all route); a URL rule's own parameters are added next to it.
    path_params = {"path": req.path[1:]}
    if isinstance(rule, UrlMatch):
        path_params.update(rule.match_path(req.path) or {})
    meta: dict[str, Any] = {
        "op": "u",
        # Set explicitly (not left to model defaults) so they are serialized: documents are
        # written `exclude_unset`, and `webhookId` is the collection key.
        "webhookId": str(uuid4()),
        "receivedAt": datetime.now(tz=UTC).isoformat(),
        "headers": _headers(req),
        "reqPath": req.path,
        "pathParams": path_params,
    }
    if req.query:
        meta["queryParams"] = dict(req.query)
    return meta


def _bad_request(message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=message)


def build_webhook_app(
    binding_index_mapping: Mapping[int, Resource[Any, WebhookResourceConfig, Any]],
    task: Task,
    *,
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
) -> web.Application:
    """The aiohttp application receiving documents for ``binding_index_mapping`` (binding
    index → webhook resource). Documents are captured through ``task``'s transactor; with
    explicit acknowledgements a request is answered only once its documents are committed."""
    routes = _routes(binding_index_mapping)
    shutting_down = task.stopping.webhook_event
    log = task.log
    writer = MultipleWritersTask(
        log,
        task.connector_status,
        task.name,
        task.output,
        task.stopping,
        task._tg,
        task.transactor,
        task.catalog_task_name,
        task.requires_ack,
    )

    async def route(raw_doc: Any, req: web.Request) -> AssociatedDocument[Any]:
        if not isinstance(raw_doc, dict):
            log.error("Documents are expected to be JSON objects", {"doc_type": type(raw_doc).__name__})
            raise _bad_request("Documents are expected to be JSON objects")
        found = await _first_route(routes, req, log, raw_doc)
        if found is None:
            log.error(
                "No handler found for incoming webhook request",
                {
                    "path": req.path,
                    "header_names": sorted(req.headers.keys()),
                    "body_keys": sorted(raw_doc.keys()),
                },
            )
            raise web.HTTPNotFound(text="No matching binding for request")
        index, rule, model = found

        raw_doc["_meta"] = _request_meta(req, rule)
        if isinstance(model, Resource.FixedSchema):
            return AssociatedDocument(doc=raw_doc, binding=index)
        try:
            return AssociatedDocument(doc=model.model_validate(raw_doc), binding=index)
        except pydantic.ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'document'}: {e['msg']}" for e in exc.errors()
            )
            log.error("Document does not fit its binding's model", {"binding": index, "errors": problems})
            raise _bad_request(f"Document does not fit its binding's model: {problems}") from None

    async def handle(req: web.Request) -> web.Response:
        if shutting_down.is_set() or (writer.requires_ack and writer.transactor.acknowledgements_ended):
            return web.Response(status=503, text="Server shutting down")
        body = await req.read()
        try:
            parsed = json.loads(body)
        except ValueError:
            raise _bad_request("Request body must be valid JSON") from None

        # One unroutable document rejects the whole request: nothing of it is captured, and the
        # sender can retry it as a unit.
        raw_docs = parsed if isinstance(parsed, list) else [parsed]
        docs = [await route(raw_doc, req) for raw_doc in raw_docs]
        if docs:
            try:
                await writer.emit(docs, ConnectorState())
            except AcknowledgementsEnded as exc:
                # The runtime closed our input before committing these documents (or before we
                # could write them): a 5xx makes the sender retry them with the next session.
                log.warning(f"webhook request not acknowledged: {exc}", {"path": req.path})
                return web.Response(status=503, text=f"Server shutting down: {exc}; retry the request")
        return web.json_response({"published": len(docs)})

    app = web.Application(client_max_size=max_request_bytes)
    app.router.add_post("/{path:.*}", handle)
    return app


def _listen_port(port: int | None) -> int:
    if port is not None:
        return port
    configured = os.environ.get(WEBHOOK_PORT_ENV, "").strip()
    if not configured:
        return DEFAULT_WEBHOOK_PORT
    try:
        value = int(configured)
    except ValueError:
        value = -1
    if not 0 <= value <= 65535:
        raise WebhookServerError(f"{WEBHOOK_PORT_ENV} must be a port number (0-65535), got {configured!r}")
    return value


def _record_failure(task: Task, exc: Exception) -> None:
    task.stopping.record_error(exc, "webhook-server")


def start_webhook_server(
    binding_index_mapping: Mapping[int, Resource[Any, WebhookResourceConfig, Any]],
    task: Task,
    *,
    host: str | None = None,
    port: int | None = None,
) -> asyncio.Task[None]:
    """Start the server for the webhook bindings (binding index → resource) of ``task``'s
    capture; it is ``task.stopping.webhook_task``. It listens on ``host``:``port``, by default
    ``$ESTUARY_CDK_WEBHOOK_HOST`` (else all interfaces) and ``$ESTUARY_CDK_WEBHOOK_PORT`` (else
    8080). If it cannot listen, the capture stops with a ``WebhookServerError``."""
    listen_port = _listen_port(port)
    listen_host = host if host is not None else (os.environ.get(WEBHOOK_HOST_ENV, "").strip() or None)
    where = f"port {listen_port}" + (f" of {listen_host}" if listen_host else "")
    task.log.info(
        "Starting webhook server",
        {
            "bindings": [
                {"index": index, "name": resource.initial_config.name}
                for index, resource in binding_index_mapping.items()
            ],
            "port": listen_port,
        },
    )

    async def run() -> None:
        async with asyncio.TaskGroup() as tg:
            server_task = Task(
                task.log.getChild("webhook-server"),
                task.connector_status,
                "capture.webhook-server",
                task.output,
                task.stopping,
                tg,
                task.transactor,
                task.catalog_task_name,
                # Answer requests only after the runtime committed them, whenever it can say so.
                task.transactor.requires_explicit_acks,
            )
            app = build_webhook_app(binding_index_mapping, server_task)
            runner = web.AppRunner(app, access_log=None, shutdown_timeout=_DRAIN_SECONDS)
            try:
                await runner.setup()
                await web.TCPSite(runner, listen_host, listen_port).start()
            except OSError as exc:
                error = WebhookServerError(f"webhook server could not listen on {where}: {exc}")
                task.log.error(str(error))
                _record_failure(task, error)
                await runner.cleanup()
                return
            try:
                bound = [address[1] for address in runner.addresses if isinstance(address, tuple)]
                server_task.log.info(
                    "Webhook server listening", {"host": listen_host, "port": bound[0] if bound else None}
                )
                await task.stopping.webhook_event.wait()
                server_task.log.debug("webhook server is yielding to stop")
            except Exception as exc:
                task.log.error(f"webhook server failed: {exc}", exc_info=exc)
                _record_failure(task, exc)
            finally:
                await runner.cleanup()

    server = asyncio.create_task(run(), name="capture.webhook-server")
    task.stopping.webhook_task = server
    return server
