"""A minimal capture connector for CORE's protocol tests. It uses only the process framework,
the wire models and `Task` (not the capture engine), and its behaviour is driven by its config."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from logging import Logger
from typing import Any, ClassVar, Literal

from estuary_cdk import cli
from estuary_cdk.capture import BaseCaptureConnector, Request, Task, request, response
from estuary_cdk.capture.document import BaseDocument
from estuary_cdk.flow import ConnectorSpec, ValidationError
from pydantic import BaseModel, Field


class EndpointConfig(BaseModel):
    token: str = Field(title="Token", json_schema_extra={"secret": True})
    pages: int = 2
    per_page: int = 2
    doc_kind: Literal["dict", "model"] = "dict"
    fail_at_page: int | None = None
    explicit_acks: bool = False
    validation_errors: list[str] = Field(default_factory=list)
    wait_for_stop: bool = False
    migrate: bool = False


class ResourceConfig(BaseModel):
    PATH_POINTERS: ClassVar[list[str]] = ["/name"]

    name: str

    def path(self) -> list[str]:
        return [self.name]


class State(BaseModel, extra="allow"):
    cursors: dict[str, int | None] = Field(default_factory=dict)


class Item(BaseDocument):
    id: int
    page: int
    at: datetime


DISCOVERED = ["alpha", "beta"]


def make_doc(kind: str, binding: str, page: int, i: int) -> Any:
    at = datetime(2025, 1, 1, 0, page % 60, i % 60, tzinfo=UTC)
    if kind == "model":
        return Item(id=page * 100 + i, page=page, at=at, binding=binding)
    return {"id": page * 100 + i, "page": page, "at": at, "binding": binding}


class Connector(BaseCaptureConnector[EndpointConfig, ResourceConfig, State]):
    def request_class(self) -> type[Request[EndpointConfig, ResourceConfig, State]]:
        return Request[EndpointConfig, ResourceConfig, State]

    async def spec(self, log: Logger, _: request.Spec) -> ConnectorSpec:
        return ConnectorSpec(
            documentationUrl="https://example.com/docs",
            configSchema=EndpointConfig.model_json_schema(),
            resourceConfigSchema=ResourceConfig.model_json_schema(),
            resourcePathPointers=ResourceConfig.PATH_POINTERS,
        )

    async def discover(
        self, log: Logger, discover: request.Discover[EndpointConfig]
    ) -> response.Discovered[ResourceConfig]:
        return response.Discovered(
            bindings=[
                response.DiscoveredBinding(
                    recommendedName=name,
                    resourceConfig=ResourceConfig(name=name),
                    documentSchema={"type": "object", "x-infer-schema": True},
                    key=["/id"],
                    disable=False,
                )
                for name in DISCOVERED
            ]
        )

    async def validate(
        self, log: Logger, validate: request.Validate[EndpointConfig, ResourceConfig]
    ) -> response.Validated:
        errors = list(validate.config.validation_errors)
        for binding in validate.bindings:
            if binding.resourceConfig.name not in DISCOVERED:
                errors.append(f"Resource '{binding.resourceConfig.name}' was not found.")
        if errors:
            raise ValidationError(errors)
        return response.Validated(
            bindings=[
                response.ValidatedBinding(resourcePath=b.resourceConfig.path()) for b in validate.bindings
            ]
        )

    async def update_config(self, log: Logger, config: EndpointConfig) -> tuple[str, EndpointConfig] | None:
        if not config.migrate:
            return None
        return "Migrated the endpoint config.", config.model_copy(update={"migrate": False})

    async def open(
        self, log: Logger, open: request.Open[EndpointConfig, ResourceConfig, State]
    ) -> tuple[response.Opened, Any]:
        config = open.capture.config
        bindings = open.capture.bindings
        state = open.state
        log.info("opening", {"token": config.token, "bindings": len(bindings)})

        async def run_binding(index: int, task: Task) -> None:
            binding = bindings[index]
            key = binding.stateKey
            start = (state.cursors.get(key) or 0) + 1
            for page in range(start, config.pages + 1):
                if task.stopping.event.is_set():
                    return
                if config.fail_at_page == page:
                    raise RuntimeError(f"boom at page {page}")
                for i in range(config.per_page):
                    task.captured(index, make_doc(config.doc_kind, binding.resourceConfig.name, page, i))
                await task.checkpoint(State(cursors={key: page}))

        async def runner(task: Task) -> None:
            for index, binding in enumerate(bindings):
                task.spawn_child(binding.resourceConfig.name, lambda t, i=index: run_binding(i, t))
            if config.wait_for_stop:
                await task.stopping.event.wait()

        return response.Opened(explicitAcknowledgements=config.explicit_acks), runner


def main() -> None:
    cli.main(Connector())


__all__ = ["Connector", "asyncio", "main"]
