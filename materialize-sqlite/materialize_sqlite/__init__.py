"""materialize-sqlite: Flow collections into a SQLite database file, exactly once.

Unlike Estuary's demo-only SQLite connector, the database is a real file named in the config,
Validate reads its catalog (so existing tables constrain fields, and incompatible changes are
refused), Apply creates and evolves tables, and each transaction's rows commit in one SQLite
transaction together with the runtime checkpoint, fenced against a second writer.
"""

from __future__ import annotations

from estuary_cdk import cli
from estuary_cdk.logger import FlowLogger
from estuary_cdk.materialize import Request, Transactor, request, response
from estuary_cdk.materialize.sql import (
    CHECKPOINTS_TABLE,
    Fence,
    SQLClient,
    SQLMaterializationConnector,
    Table,
    TablePlan,
)

from .client import SQLiteClient
from .models import EndpointConfig, ResourceConfig
from .sqlgen import DIALECT, MIGRATIONS, TYPES, render_plan
from .transactor import SQLiteTransactor

__all__ = ["Connector", "main"]

DOCUMENTATION_URL = "https://go.estuary.dev/materialize-sqlite"


class Connector(SQLMaterializationConnector[EndpointConfig, ResourceConfig]):
    dialect = DIALECT
    types = TYPES
    migrations = MIGRATIONS

    @classmethod
    def request_class(cls) -> type[Request[EndpointConfig, ResourceConfig]]:
        return Request[EndpointConfig, ResourceConfig]

    async def spec(self, log: FlowLogger, spec: request.Spec) -> response.ConnectorSpec:
        return response.ConnectorSpec(
            documentationUrl=DOCUMENTATION_URL,
            configSchema=EndpointConfig.model_json_schema(),
            resourceConfigSchema=ResourceConfig.model_json_schema(),
        )

    async def connect(self, log: FlowLogger, config: EndpointConfig) -> SQLClient:
        return SQLiteClient(config.path)

    def resource_path(self, config: EndpointConfig, resource: ResourceConfig) -> list[str]:
        return [resource.table]

    def checkpoints_path(self, config: EndpointConfig) -> list[str]:
        return [CHECKPOINTS_TABLE]

    def render_plan(self, plan: TablePlan, resource: ResourceConfig, materialization: str) -> list[str]:
        return render_plan(plan)

    async def transactor(
        self,
        log: FlowLogger,
        open: request.Open[EndpointConfig, ResourceConfig],
        client: SQLClient,
        tables: list[Table],
        fence: Fence,
    ) -> Transactor:
        assert isinstance(client, SQLiteClient)
        return SQLiteTransactor(client, tables, fence, open.materialization.config.hardDelete)


def main() -> None:
    """Body of the `connector` script: serves the protocol on stdin/stdout."""
    cli.main(Connector())
