"""A binding's table: its columns in order (keys, values, document), their types and names, and
what the destination already has (`ExistingTable`, read from its catalog).

Column order is the field selection's: keys in group-by order, values sorted, the document last
(materialize-sql.md §2.2), so a row is `key + values + (document,)` of a Store.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ...flow import Projection
from ..request import MaterializationBinding
from .dialect import Dialect
from .types import MappedType, TypeMap

__all__ = ["Column", "ExistingColumn", "ExistingTable", "InfoSchema", "Table"]


@dataclass(frozen=True)
class ExistingColumn:
    """A column as the destination's catalog describes it."""

    name: str
    data_type: str
    nullable: bool
    has_default: bool = False


@dataclass
class ExistingTable:
    path: tuple[str, ...]
    columns: list[ExistingColumn] = field(default_factory=list)

    def column(self, name: str, dialect: Dialect) -> ExistingColumn | None:
        for c in self.columns:
            if dialect.same_name(c.name, name):
                return c
        return None


@dataclass
class InfoSchema:
    """The tables that exist at the destination, by resource path (as the dialect stores it)."""

    dialect: Dialect
    tables: dict[tuple[str, ...], ExistingTable] = field(default_factory=dict)
    # The namespaces (schemas) that exist, for destinations that have them; None for those that
    # do not (Apply then creates none).
    namespaces: set[str] | None = None

    def _key(self, path: Sequence[str]) -> tuple[str, ...]:
        parts = tuple(self.dialect.identifier(p) for p in path)
        return tuple(p.lower() for p in parts) if self.dialect.case_insensitive else parts

    def add(self, table: ExistingTable) -> None:
        self.tables[self._key(table.path)] = table

    def table(self, path: Sequence[str]) -> ExistingTable | None:
        return self.tables.get(self._key(path))


@dataclass(frozen=True)
class Column:
    field: str
    name: str  # as the destination stores it
    quoted: str
    projection: Projection
    mapped: MappedType
    is_key: bool = False
    is_document: bool = False

    @property
    def convert(self) -> Callable[[Any], Any] | None:
        return self.mapped.column.convert


@dataclass(frozen=True)
class Table:
    """The table of one binding."""

    binding: int
    path: tuple[str, ...]
    quoted: str
    keys: tuple[Column, ...]
    values: tuple[Column, ...]
    document: Column | None
    delta_updates: bool
    collection: str

    @property
    def columns(self) -> tuple[Column, ...]:
        return (*self.keys, *self.values, *((self.document,) if self.document else ()))

    @classmethod
    def of(
        cls,
        dialect: Dialect,
        types: TypeMap,
        index: int,
        binding: MaterializationBinding[Any],
        path: Sequence[str] | None = None,
    ) -> Table:
        """The table a binding's field selection describes (its resource path unless `path`)."""
        selection = binding.fieldSelection
        by_field: Mapping[str, Projection] = {p.field: p for p in binding.collection.projections}

        def column(name: str, role: str) -> Column:
            projection = by_field.get(name)
            if projection is None:
                raise ValueError(
                    f"field {name!r} of the field selection is not a projection of collection "
                    f"{binding.collection.name!r}"
                )
            mapped = types.map(projection, selection.fieldConfig.get(name), is_key=role == "key")
            return Column(
                name,
                dialect.identifier(name),
                dialect.quote(name),
                projection,
                mapped,
                is_key=role == "key",
                is_document=role == "document",
            )

        table_path = tuple(path if path is not None else binding.resourcePath)
        return cls(
            binding=index,
            path=table_path,
            quoted=dialect.path(table_path),
            keys=tuple(column(f, "key") for f in selection.keys),
            values=tuple(column(f, "value") for f in selection.values),
            document=column(selection.document, "document") if selection.document else None,
            delta_updates=binding.deltaUpdates,
            collection=binding.collection.name,
        )

    def row_converters(self) -> list[Callable[[Any], Any] | None]:
        """Per column (document excluded), how its packed value becomes a parameter."""
        return [c.convert for c in (*self.keys, *self.values)]
