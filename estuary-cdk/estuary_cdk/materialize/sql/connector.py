"""`SQLMaterializationConnector`: spec-less base of every SQL materialization — Validate (one
constraint per field), Apply (namespaces, tables and the checkpoints table) and Open (fence, tables,
transactor) written once; a connector supplies its dialect, type map, migrations, a client for
its database, its DDL rendering and its transactor.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import Any, Generic

from ..._errors import ConnectorError
from ...flow import ValidationError
from ...logger import FlowLogger
from ..base_materialization_connector import BaseMaterializationConnector
from ..request import Apply, EndpointConfig, MaterializationBinding, Open, ResourceConfig, Validate
from ..response import Applied, Opened, Validated, ValidatedBinding
from ..transactor import Transactor
from .apply import TablePlan, plan_table
from .checkpoints import Fence, checkpoints_ddl
from .constraints import BindingCheck, hard_errors, last_binding, validate_binding
from .dialect import Dialect
from .migrations import Migrations
from .table import InfoSchema, Table
from .types import TypeMap

__all__ = ["SQLClient", "SQLMaterializationConnector"]


class SQLClient(abc.ABC):
    """A connection to the destination used by Validate, Apply and Open."""

    @abc.abstractmethod
    async def info_schema(self, paths: Sequence[Sequence[str]]) -> InfoSchema:
        """The existing tables among `paths` (and the checkpoints table), with their columns."""

    @abc.abstractmethod
    async def run_ddl(self, statements: Sequence[str]) -> None:
        """Run Apply's statements, in one transaction where the destination allows it."""

    @abc.abstractmethod
    async def has_checkpoint(self, materialization: str) -> bool:
        """Whether the checkpoints table holds a row of `materialization` (it ran here before)."""

    @abc.abstractmethod
    async def install_fence(self, materialization: str, key_begin: int, key_end: int) -> Fence:
        """Bump the fence of this key range and read its checkpoint (see checkpoints.py)."""

    async def close(self) -> None:
        return None


class SQLMaterializationConnector(
    BaseMaterializationConnector[EndpointConfig, ResourceConfig], Generic[EndpointConfig, ResourceConfig]
):
    dialect: Dialect
    types: TypeMap
    migrations: Migrations = Migrations()

    # -- what a SQL connector supplies -----------------------------------------------------------

    @abc.abstractmethod
    async def connect(self, log: FlowLogger, config: EndpointConfig) -> SQLClient:
        """Connect (and check that the destination is usable); errors name the setting at fault."""

    @abc.abstractmethod
    def resource_path(self, config: EndpointConfig, resource: ResourceConfig) -> list[str]:
        """The table's path (e.g. `[schema, table]`) of a binding's resource config."""

    def delta_updates(self, resource: ResourceConfig) -> bool:
        return bool(getattr(resource, "delta_updates", False))

    @abc.abstractmethod
    def checkpoints_path(self, config: EndpointConfig) -> list[str]:
        """Where the checkpoints table lives."""

    @abc.abstractmethod
    def render_plan(self, plan: TablePlan, resource: ResourceConfig, materialization: str) -> list[str]:
        """The statements that carry out `plan` (create, replace, truncate and/or alter) for the
        binding whose resource config is `resource`."""

    def render_create_namespace(self, namespace: str) -> str:
        """The statement creating a missing namespace (schema) before Apply's tables."""
        return f"CREATE SCHEMA IF NOT EXISTS {self.dialect.quote(namespace)};"

    @abc.abstractmethod
    async def transactor(
        self,
        log: FlowLogger,
        open: Open[EndpointConfig, ResourceConfig],
        client: SQLClient,
        tables: list[Table],
        fence: Fence,
    ) -> Transactor:
        """The transactor of an open session (it takes over `client`)."""

    # -- Validate / Apply / Open -----------------------------------------------------------------

    async def validate(
        self, log: FlowLogger, validate: Validate[EndpointConfig, ResourceConfig]
    ) -> Validated:
        config = validate.config
        paths = [self.resource_path(config, b.resourceConfig) for b in validate.bindings]
        client = await self.connect(log, config)
        try:
            info = await client.info_schema(paths)
            known = await client.has_checkpoint(validate.name)
        finally:
            await client.close()
        last = validate.lastMaterialization
        previous: list[MaterializationBinding[Any]] = (
            [*last.bindings, *last.inactiveBindings] if last is not None else []
        )
        errors: list[str] = []
        out: list[ValidatedBinding] = []
        seen: dict[tuple[str, ...], int] = {}
        for i, (binding, path) in enumerate(zip(validate.bindings, paths, strict=True)):
            key = tuple(p.lower() for p in path) if self.dialect.case_insensitive else tuple(path)
            if key in seen:
                errors.append(
                    f"bindings {seen[key]} and {i} both materialize into table {'.'.join(path)} "
                    f"(collections {validate.bindings[seen[key]].collection.name} and {binding.collection.name})"
                )
            seen[key] = i
            check = BindingCheck(
                binding,
                path,
                self.delta_updates(binding.resourceConfig),
                info.table(path),
                last_binding(previous, path),
                known,
            )
            errors.extend(hard_errors(check))
            constraints = validate_binding(check, self.dialect, self.types, self.migrations)
            out.append(
                ValidatedBinding(constraints=constraints, resourcePath=path, deltaUpdates=check.delta_updates)
            )
        if errors:
            raise ValidationError(errors)
        return Validated(bindings=out)

    def tables(self, bindings: Sequence[MaterializationBinding[Any]]) -> list[Table]:
        try:
            return [Table.of(self.dialect, self.types, i, b) for i, b in enumerate(bindings)]
        except ValueError as exc:
            raise ConnectorError(str(exc)) from None

    async def apply(self, log: FlowLogger, apply: Apply[EndpointConfig, ResourceConfig]) -> Applied:
        spec = apply.materialization
        tables = self.tables(spec.bindings)
        checkpoints = self.checkpoints_path(spec.config)
        client = await self.connect(log, spec.config)
        try:
            paths = [*(t.path for t in tables), tuple(checkpoints)]
            info = await client.info_schema(paths)
            statements: list[str] = []
            if info.namespaces is not None:
                needed = sorted({path[-2] for path in paths if len(path) > 1})
                statements.extend(self.render_create_namespace(n) for n in needed if n not in info.namespaces)
            if info.table(checkpoints) is None:
                statements.append(checkpoints_ddl(self.dialect.path(checkpoints)))
            previous = apply.lastMaterialization
            last_bindings = [*previous.bindings, *previous.inactiveBindings] if previous else []
            for table, binding in zip(tables, spec.bindings, strict=True):
                plan = plan_table(
                    table,
                    binding,
                    info.table(table.path),
                    last_binding(last_bindings, table.path),
                    self.dialect,
                    self.migrations,
                )
                if not plan.is_noop:
                    statements.extend(self.render_plan(plan, binding.resourceConfig, spec.name))
            if statements:
                await client.run_ddl(statements)
        finally:
            await client.close()
        return Applied(actionDescription="\n".join(statements))

    async def open(
        self, log: FlowLogger, open: Open[EndpointConfig, ResourceConfig]
    ) -> tuple[Opened, Transactor]:
        spec = open.materialization
        tables = self.tables(spec.bindings)
        client = await self.connect(log, spec.config)
        try:
            fence = await client.install_fence(spec.name, open.range.keyBegin, open.range.keyEnd)
            transactor = await self.transactor(log, open, client, tables, fence)
        except BaseException:
            await client.close()
            raise
        log.info(
            "materialization opened",
            {"bindings": len(tables), "fence": fence.fence, "resumes": fence.checkpoint is not None},
        )
        return Opened(runtimeCheckpoint=fence.checkpoint or {}), transactor
