"""An example capture connector built on the capture engine (``capture.common``), used by the
engine's protocol tests as a real subprocess: ``PYTHONPATH=tests python -m example_connector``.

Its data is a deterministic function of its endpoint config: ``items`` backfills through
pages of ``page_size`` model documents, ``changes`` is a fixed log of dict documents read
incrementally with int cursors, and ``snap`` is a snapshot of ``snapshot_rows``. Once every part
has nothing more to do, the connector stops itself, so a session ends on its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable
from logging import Logger
from typing import Any

from estuary_cdk import cli
from estuary_cdk.capture import BaseCaptureConnector, Request, Task, common, request, response
from estuary_cdk.flow import ConnectorSpec, ValidationError
from pydantic import BaseModel, Field

ConnectorState = common.ConnectorState[common.ResourceState]
ResourceConfig = common.ResourceConfig


class EndpointConfig(BaseModel):
    token: str = Field(title="Token", json_schema_extra={"secret": True})
    items: int = Field(default=5, ge=0)
    page_size: int = Field(default=2, ge=1)
    changes: int = Field(default=3, ge=0)
    snapshot_rows: list[str] = Field(default_factory=lambda: ["a", "b", "c"])
    fail_at_page: int | None = None
    trigger_backfill: bool = False
    explicit_acks: bool = False
    validation_errors: list[str] = Field(default_factory=list)


class Item(common.BaseDocument):
    id: int
    name: str


class Progress:
    """Stops the capture once every part (backfill, incremental, snapshot) of every bound
    resource reported that it has nothing more to do."""

    def __init__(self) -> None:
        self.parts: set[str] = set()
        self.task: Task | None = None

    def expect(self, part: str, task: Task) -> None:
        self.parts.add(part)
        self.task = task

    def done(self, part: str) -> None:
        self.parts.discard(part)
        if not self.parts and self.task is not None:
            self.task.stopping.event.set()


def item_pages(config: EndpointConfig, progress: Progress, part: str) -> common.FetchPageFn:
    async def fetch_page(
        log: Logger, page: common.PageCursor, cutoff: common.LogCursor
    ) -> AsyncGenerator[Any, None]:
        offset = int(page or 0)
        page_number = offset // config.page_size + 1
        if config.fail_at_page == page_number:
            raise RuntimeError(f"boom in fetch_page at page {page_number}")
        end = min(offset + config.page_size, config.items)
        for i in range(offset, end):
            yield Item(id=i + 1, name=f"item-{i + 1}")
        if end < config.items:
            yield end
        else:
            progress.done(part)

    return fetch_page


def change_log(config: EndpointConfig, progress: Progress, part: str) -> common.FetchChangesFn:
    triggered = [False]

    async def fetch_changes(log: Logger, cursor: common.LogCursor) -> AsyncGenerator[Any, None]:
        seq = int(cursor)  # type: ignore[arg-type]
        while seq < config.changes:
            end = min(seq + config.page_size, config.changes)
            for k in range(seq + 1, end + 1):
                yield {"id": 1000 + k, "name": f"change-{k}", "seq": k}
            yield end
            seq = end
        if config.trigger_backfill and not triggered[0]:
            triggered[0] = True
            yield common.Triggers.BACKFILL
            return
        progress.done(part)

    return fetch_changes


def snapshot_of(config: EndpointConfig, progress: Progress, part: str) -> common.FetchSnapshotFn:
    async def fetch_snapshot(log: Logger) -> AsyncGenerator[Any, None]:
        for name in config.snapshot_rows:
            yield {"name": name}
        progress.done(part)

    return fetch_snapshot


def resources(config: EndpointConfig, progress: Progress) -> list[common.Resource[Any, Any, Any]]:
    def opener(make_fetchers: Callable[[str], dict[str, Any]], parts: list[str]) -> Callable[..., None]:
        def open_(
            binding: Any, index: int, state: common.ResourceState, task: Task, all_bindings: Any
        ) -> None:
            name = binding.resourceConfig.name
            fetchers = make_fetchers(name)
            for part in parts:
                if part != "backfill" or state.backfill:
                    progress.expect(f"{name}.{part}", task)
            common.open_binding(binding, index, state, task, **fetchers)

        return open_

    initial = common.ResourceState(
        inc=common.ResourceState.Incremental(cursor=0),
        backfill=common.ResourceState.Backfill(cutoff=0, next_page=None),
    )
    return [
        common.Resource(
            name="items",
            key=["/id"],
            model=Item,
            open=opener(
                lambda n: {
                    "fetch_page": item_pages(config, progress, f"{n}.backfill"),
                    "fetch_changes": change_log(config, progress, f"{n}.incremental"),
                },
                ["backfill", "incremental"],
            ),
            initial_state=initial,
            initial_config=ResourceConfig(name="items"),
            schema_inference=True,
        ),
        common.SnapshotResource(
            name="snap",
            open=opener(
                lambda n: {"fetch_snapshot": snapshot_of(config, progress, f"{n}.snapshot")}, ["snapshot"]
            ),
            initial_config=ResourceConfig(name="snap"),
        ),
        common.Resource(
            name="events",
            key=["/id"],
            model=Item,
            open=opener(
                lambda n: {"fetch_page": item_pages(config, progress, f"{n}.backfill")}, ["backfill"]
            ),
            initial_state=common.ResourceState(backfill=common.ResourceState.Backfill(cutoff=0)),
            initial_config=ResourceConfig(name="events"),
            schema_inference=False,
            requires_explicit_acks=config.explicit_acks,
        ),
    ]


class Connector(BaseCaptureConnector[EndpointConfig, ResourceConfig, ConnectorState]):
    def request_class(self) -> type[Request[EndpointConfig, ResourceConfig, ConnectorState]]:
        return Request[EndpointConfig, ResourceConfig, ConnectorState]

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
        return common.discovered(resources(discover.config, Progress()))

    async def validate(
        self, log: Logger, validate: request.Validate[EndpointConfig, ResourceConfig]
    ) -> response.Validated:
        if validate.config.validation_errors:
            raise ValidationError(list(validate.config.validation_errors))
        resolved = common.resolve_bindings(validate.bindings, resources(validate.config, Progress()))
        return common.validated(resolved)

    async def open(
        self, log: Logger, open: request.Open[EndpointConfig, ResourceConfig, ConnectorState]
    ) -> tuple[response.Opened, Any]:
        # One Progress per session, shared by the resources of this open.
        all_resources = resources(open.capture.config, Progress())
        return common.open(open, common.resolve_bindings(open.capture.bindings, all_resources))


def main() -> None:
    cli.main(Connector())


__all__ = ["Connector", "asyncio", "main"]
