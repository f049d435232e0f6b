"""Apply for SQL destinations: what each binding's table needs (materialize-sql.md §2).

A missing table is created. A table whose binding's backfill counter changed is truncated when
its columns still fit (every kept column compatible or widenable, the key unchanged), else dropped
and recreated. Any other table is altered, never destructively: fields without a column get a
new nullable column (old rows have no value), NOT NULL is dropped from columns that may now be
absent or are no longer selected, value columns whose type must widen are migrated, and no
column is ever dropped or narrowed. A repeated Apply with nothing to do plans nothing.

Planning is generic; each connector renders a plan into its own SQL (`render_*` of its
`SQLDestination`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from ..._errors import ConnectorError
from ..request import MaterializationBinding
from .dialect import Dialect
from .migrations import Migration, Migrations
from .table import Column, ExistingColumn, ExistingTable, Table

__all__ = ["ColumnMigration", "TablePlan", "plan_table"]


@dataclass(frozen=True)
class ColumnMigration:
    column: Column
    existing: ExistingColumn
    migration: Migration


@dataclass
class TablePlan:
    """What Apply does to one table. `action` is what happens to the table as a whole; `add`,
    `drop_not_null` and `migrate` are the changes to an existing (or truncated) table."""

    table: Table
    action: Literal["create", "replace", "truncate", "alter"]
    existing: ExistingTable | None = None
    add: list[Column] = field(default_factory=list)
    drop_not_null: list[ExistingColumn] = field(default_factory=list)
    migrate: list[ColumnMigration] = field(default_factory=list)
    # Selected columns whose type would have to change in a way no migration allows (Validate
    # said INCOMPATIBLE): a description of each.
    blocked: list[str] = field(default_factory=list)

    @property
    def changes_columns(self) -> bool:
        return bool(self.add or self.drop_not_null or self.migrate)

    @property
    def is_noop(self) -> bool:
        return self.action == "alter" and not self.changes_columns


def plan_table(
    table: Table,
    binding: MaterializationBinding[Any],
    existing: ExistingTable | None,
    last: MaterializationBinding[Any] | None,
    dialect: Dialect,
    migrations: Migrations,
) -> TablePlan:
    """The plan for one binding's table (see the module docstring)."""
    if existing is None:
        return TablePlan(table, "create")
    plan = _alter_plan(table, existing, dialect, migrations)
    if last is None or last.backfill == binding.backfill:
        if plan.blocked:
            raise ConnectorError(
                f"table {'.'.join(table.path)} cannot hold the selected fields: "
                + "; ".join(plan.blocked)
                + ". Backfill the binding (increment its `backfill` counter) to recreate the table, or leave "
                "the field out of the selection"
            )
        return plan
    fits = not plan.blocked and list(last.fieldSelection.keys) == list(binding.fieldSelection.keys)
    if not fits:
        return TablePlan(table, "replace", existing)
    plan.action = "truncate"
    return plan


def _alter_plan(table: Table, existing: ExistingTable, dialect: Dialect, migrations: Migrations) -> TablePlan:
    plan = TablePlan(table, "alter", existing)
    selected: set[str] = set()
    for column in table.columns:
        found = existing.column(column.name, dialect)
        if found is None:
            plan.add.append(column)
            continue
        selected.add(found.name)
        if not column.mapped.compatible(found.data_type):
            migration = (
                None if column.is_key else migrations.target(found.data_type, column.mapped.column.ddl)
            )
            if migration is None:
                plan.blocked.append(
                    f"column {found.name} is {found.data_type} but field {column.field!r} needs "
                    f"{column.mapped.column.ddl}, which it cannot be migrated to"
                    + (" (a key column is never migrated)" if column.is_key else "")
                )
            else:
                plan.migrate.append(ColumnMigration(column, found, migration))
        if not found.nullable and not column.mapped.not_null and not found.has_default:
            if column.projection.inference.default is None:
                plan.drop_not_null.append(found)
    for found in existing.columns:
        if found.name not in selected and not found.nullable:
            plan.drop_not_null.append(found)
    return plan
