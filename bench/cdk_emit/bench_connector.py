"""The connector `bench/cdk_emit.py` measures. Written against the reference kit's public API so
the same file runs on `estuary-cdk==0.3.0.dev31` and on ours: one backfill binding whose
`fetch_page` yields BENCH_COUNT documents (~15 fields: ints, strings, a nested object,
timestamps), as pydantic models or plain dicts (BENCH_KIND), BENCH_PAGE per page; the engine
checkpoints after every page and the process exits when the backfill is done."""

import asyncio
import os
from collections.abc import AsyncGenerator
from datetime import datetime, timedelta
from logging import Logger
from typing import Any

from bench_docs import CREATED, CUTOFF, make_raw
from estuary_cdk.capture import BaseCaptureConnector, Request, Task, common, request, response
from estuary_cdk.capture.common import (
    BaseDocument,
    LogCursor,
    PageCursor,
    Resource,
    ResourceConfig,
    ResourceState,
    open_binding,
)
from estuary_cdk.flow import CaptureBinding, ConnectorSpec
from pydantic import BaseModel

COUNT = int(os.environ.get("BENCH_COUNT", "1000"))
KIND = os.environ.get("BENCH_KIND", "dict")
PAGE = int(os.environ.get("BENCH_PAGE", "1000"))

ConnectorState = common.ConnectorState[ResourceState]


class EndpointConfig(BaseModel):
    pass


class Address(BaseModel):
    street: str
    city: str
    zip: str


class Item(BaseDocument):
    id: int
    name: str
    email: str
    score: float
    active: bool
    status: str
    version: int
    parent_id: int | None
    tags: list[str]
    address: Address
    created_at: datetime
    updated_at: datetime
    description: str
    views: int


async def fetch_page(log: Logger, page: PageCursor, cutoff: LogCursor) -> AsyncGenerator[Any, None]:
    start = page if isinstance(page, int) else 0
    end = min(start + PAGE, COUNT)
    if KIND == "model":
        validate = Item.model_validate
        for i in range(start, end):
            yield validate(make_raw(i))
    else:
        for i in range(start, end):
            yield make_raw(i)
    if end < COUNT:
        yield end


def open_items(
    binding: CaptureBinding[ResourceConfig],
    binding_index: int,
    state: ResourceState,
    task: Task,
    all_bindings: Any,
) -> None:
    open_binding(binding, binding_index, state, task, fetch_page=fetch_page)


RESOURCES = [
    Resource(
        name="items",
        key=["/id"],
        model=Item,
        open=open_items,
        initial_state=ResourceState(backfill=ResourceState.Backfill(next_page=None, cutoff=CUTOFF)),
        initial_config=ResourceConfig(name="items", interval=timedelta(0)),
        schema_inference=True,
    )
]


class Connector(BaseCaptureConnector[EndpointConfig, ResourceConfig, ConnectorState]):
    def request_class(self):  # type: ignore[no-untyped-def]
        return Request[EndpointConfig, ResourceConfig, ConnectorState]

    async def spec(self, log: Logger, _: request.Spec) -> ConnectorSpec:
        return ConnectorSpec(
            documentationUrl="https://example.com",
            configSchema=EndpointConfig.model_json_schema(),
            resourceConfigSchema=ResourceConfig.model_json_schema(),
            resourcePathPointers=ResourceConfig.PATH_POINTERS,
        )

    async def discover(self, log: Logger, discover: request.Discover[EndpointConfig]) -> Any:
        return common.discovered(RESOURCES)

    async def validate(self, log: Logger, validate: request.Validate[EndpointConfig, ResourceConfig]) -> Any:
        return common.validated(common.resolve_bindings(validate.bindings, RESOURCES))

    async def open(
        self, log: Logger, open: request.Open[EndpointConfig, ResourceConfig, ConnectorState]
    ) -> Any:
        return common.open(open, common.resolve_bindings(open.capture.bindings, RESOURCES))


if __name__ == "__main__":
    asyncio.run(Connector().serve())


__all__ = ["CREATED", "Connector", "response"]
