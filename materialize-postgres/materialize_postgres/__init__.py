"""materialize-postgres: Flow collections into PostgreSQL tables, exactly once.

Validate reads the database's catalog (existing columns constrain their fields; incompatible
changes are refused), Apply creates schemas and tables and widens columns in one transaction, and
each Flow transaction's rows commit in one PostgreSQL transaction together with the runtime
checkpoint, fenced against a second writer of the same materialization. Rows travel by COPY.
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

from .client import PostgresClient
from .models import EndpointConfig, ResourceConfig
from .sqlgen import DIALECT, MIGRATIONS, TYPES, render_plan
from .transactor import PostgresTransactor

__all__ = ["Connector", "main"]

DOCUMENTATION_URL = "https://go.estuary.dev/materialize-postgresql"


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
        return await PostgresClient.open(log, config)

    def resource_path(self, config: EndpointConfig, resource: ResourceConfig) -> list[str]:
        return [resource.schema_ or config.schema_name, resource.table]

    def checkpoints_path(self, config: EndpointConfig) -> list[str]:
        return [config.schema_name, CHECKPOINTS_TABLE]

    def render_plan(self, plan: TablePlan, resource: ResourceConfig, materialization: str) -> list[str]:
        return render_plan(plan, materialization, resource.additional_table_create_sql)

    async def transactor(
        self,
        log: FlowLogger,
        open: request.Open[EndpointConfig, ResourceConfig],
        client: SQLClient,
        tables: list[Table],
        fence: Fence,
    ) -> Transactor:
        assert isinstance(client, PostgresClient)
        transactor = PostgresTransactor(log, client, tables, fence, open.materialization.config.hardDelete)
        await transactor.setup()
        return transactor


def main() -> None:
    """Body of the `connector` script: serves the protocol on stdin/stdout."""
    cli.main(Connector())
