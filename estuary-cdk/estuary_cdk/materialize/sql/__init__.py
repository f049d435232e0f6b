"""The SQL layer materializations share (materialize-sql.md): a `Dialect` for names, a `TypeMap`
from collection fields to column types, `Migrations` that widen columns, Validate constraints
(`constraints.py`), Apply plans (`apply.py`), the fenced checkpoints table (`checkpoints.py`),
common statements, and `SQLMaterializationConnector`, which puts them together so that a SQL
connector only adds its client, its DDL rendering and its transactor."""

from .apply import ColumnMigration, TablePlan, plan_table
from .checkpoints import CHECKPOINTS_TABLE, Fence, FencedOff, SQLExecutor, checkpoints_ddl, install_fence
from .connector import SQLClient, SQLMaterializationConnector
from .dialect import Dialect
from .migrations import Migration, Migrations
from .statements import Placeholder, create_table, delete_row, insert_row, load_join, update_row
from .table import Column, ExistingColumn, ExistingTable, InfoSchema, Table
from .types import ColumnType, FlatType, MappedType, TypeMap, flat_type

__all__ = [
    "CHECKPOINTS_TABLE",
    "Column",
    "ColumnMigration",
    "ColumnType",
    "Dialect",
    "ExistingColumn",
    "ExistingTable",
    "Fence",
    "FencedOff",
    "FlatType",
    "InfoSchema",
    "MappedType",
    "Migration",
    "Migrations",
    "Placeholder",
    "SQLClient",
    "SQLExecutor",
    "SQLMaterializationConnector",
    "Table",
    "TablePlan",
    "TypeMap",
    "checkpoints_ddl",
    "create_table",
    "delete_row",
    "flat_type",
    "insert_row",
    "install_fence",
    "load_join",
    "plan_table",
    "update_row",
]
