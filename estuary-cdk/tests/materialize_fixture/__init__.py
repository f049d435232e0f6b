"""A small materialization for the kit's tests: tables are dicts in a JSON file, committed with
the runtime checkpoint (exactly-once), and it can be told to fail at a step."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

from estuary_cdk import ConnectorError, ValidationError
from estuary_cdk.flow import RangeSpec
from estuary_cdk.logger import FlowLogger
from estuary_cdk.materialize import (
    BaseMaterializationConnector,
    Loaded,
    Request,
    Store,
    Transactor,
    request,
    response,
    state_update,
)
from estuary_cdk.materialize.response import ConnectorStateUpdate
from pydantic import BaseModel


class EndpointConfig(BaseModel):
    path: str
    fail_at: str = ""  # load, flush, store, start_commit, acknowledge


class ResourceConfig(BaseModel):
    table: str
    delta_updates: bool = False


class Tables:
    """The destination: {"tables": {name: {key-json: doc}}, "checkpoint": {...}} in one file."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)
        self.data: dict[str, Any] = (
            json.loads(self.path.read_text()) if self.path.exists() else {"tables": {}, "checkpoint": None}
        )

    def commit(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, sort_keys=True))
        os.replace(tmp, self.path)


class FixtureTransactor(Transactor):
    def __init__(self, config: EndpointConfig, tables: list[str], delta: list[bool]) -> None:
        self.config = config
        self.db = Tables(config.path)
        self.tables = tables
        self.delta = delta
        self.staged: list[tuple[int, tuple[Any, ...]]] = []
        self.pending: list[Store] = []
        self.calls: list[str] = []
        self.load_batches: list[int] = []
        self.store_batches: list[int] = []
        self.closed = False
        self.acks = 0

    def _step(self, name: str) -> None:
        self.calls.append(name)
        if self.config.fail_at == name:
            raise ConnectorError(f"the fixture was told to fail at {name}")

    async def load(self, binding: int, keys: list[tuple[Any, ...]]) -> None:
        self._step("load")
        self.load_batches.append(len(keys))
        self.staged.extend((binding, k) for k in keys)

    async def flush(self, loaded: Loaded) -> ConnectorStateUpdate | None:
        self._step("flush")
        for binding, key in self.staged:
            doc = self.db.data["tables"].get(self.tables[binding], {}).get(json.dumps(list(key)))
            if doc is not None:
                await loaded(binding, json.dumps(doc).encode())
        self.staged = []
        return state_update({"flushed": True})

    async def store(self, stores: list[Store]) -> None:
        self._step("store")
        self.store_batches.append(len(stores))
        self.pending.extend(stores)

    async def start_commit(self, runtime_checkpoint: dict[str, Any]) -> ConnectorStateUpdate | None:
        self._step("start_commit")
        for s in self.pending:
            table = self.db.data["tables"].setdefault(self.tables[s.binding], {})
            key = json.dumps(list(s.key))
            if self.delta[s.binding]:
                table[f"{key}#{len(table)}"] = s.doc
            elif s.delete:
                table.pop(key, None)
            else:
                table[key] = s.doc
        self.db.data["checkpoint"] = runtime_checkpoint
        self.db.commit()
        self.pending = []
        return None

    async def acknowledge(self) -> ConnectorStateUpdate | None:
        self._step("acknowledge")
        self.acks += 1
        await asyncio.sleep(0)
        return None

    async def close(self) -> None:
        self.closed = True


class Connector(BaseMaterializationConnector[EndpointConfig, ResourceConfig]):
    transactor: FixtureTransactor | None = None

    @classmethod
    def request_class(cls) -> type[Request[EndpointConfig, ResourceConfig]]:
        return Request[EndpointConfig, ResourceConfig]

    async def spec(self, log: FlowLogger, spec: request.Spec) -> response.ConnectorSpec:
        return response.ConnectorSpec(
            configSchema=EndpointConfig.model_json_schema(),
            resourceConfigSchema=ResourceConfig.model_json_schema(),
            documentationUrl="https://example.com/fixture",
        )

    async def validate(
        self, log: FlowLogger, validate: request.Validate[EndpointConfig, ResourceConfig]
    ) -> response.Validated:
        if not validate.bindings:
            raise ValidationError(["no bindings"])
        return response.Validated(
            bindings=[
                response.ValidatedBinding(
                    constraints={
                        p.field: response.Constraint(type="FIELD_OPTIONAL", reason="any field")
                        for p in b.collection.projections
                    },
                    resourcePath=[b.resourceConfig.table],
                    deltaUpdates=b.resourceConfig.delta_updates,
                )
                for b in validate.bindings
            ]
        )

    async def apply(
        self, log: FlowLogger, apply: request.Apply[EndpointConfig, ResourceConfig]
    ) -> response.Applied:
        return response.Applied(actionDescription=f"{len(apply.materialization.bindings)} table(s)")

    async def open(
        self, log: FlowLogger, open: request.Open[EndpointConfig, ResourceConfig]
    ) -> tuple[response.Opened, Transactor]:
        if open.range != RangeSpec():
            raise ConnectorError("the fixture materializes the full range only")
        bindings = open.materialization.bindings
        self.transactor = FixtureTransactor(
            open.materialization.config,
            [b.resourceConfig.table for b in bindings],
            [b.deltaUpdates for b in bindings],
        )
        checkpoint = self.transactor.db.data["checkpoint"]
        return response.Opened(
            runtimeCheckpoint=checkpoint if checkpoint is not None else {}
        ), self.transactor
