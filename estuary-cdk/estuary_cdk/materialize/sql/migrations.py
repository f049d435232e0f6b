"""Column type migrations: which existing column types a destination can widen in place to the
type a field now needs, and the cast that converts the data (materialize-sql.md §2.4). Only
widening is listed; anything else is INCOMPATIBLE and needs a backfill."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = ["Migration", "Migrations"]


@dataclass(frozen=True)
class Migration:
    """To `target` (a bare DDL, lowercase, or `*` for any type) with `cast`, a template of
    `{column}` (the quoted column) and `{type}` (the new DDL)."""

    target: str
    cast: str = "CAST({column} AS {type})"

    def expression(self, column: str, ddl: str) -> str:
        return self.cast.format(column=column, type=ddl)


class Migrations:
    """Migrations by existing catalog type (lowercase, as the destination reports it)."""

    def __init__(self, specs: Mapping[str, Sequence[Migration]] | None = None) -> None:
        self._specs = {k.lower(): list(v) for k, v in (specs or {}).items()}

    def target(self, existing: str, ddl: str) -> Migration | None:
        """How to turn a column of type `existing` into `ddl`, or None when it cannot be done."""
        wanted = ddl.strip().lower()
        for migration in self._specs.get(existing.strip().lower(), ()):
            if migration.target in (wanted, "*"):
                return migration
        return None
