"""From a collection field to a column type (materialize-sql.md §4).

A projection's inference is first reduced to a `FlatType` (what kind of value it holds, and
whether it always exists); a connector's `TypeMap` then picks the column DDL for that flat type
(and, for strings, their `format`), and how a packed value becomes a parameter of that column.
"""

from __future__ import annotations

import base64
import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from ...flow import Projection

__all__ = ["ColumnType", "FlatType", "MappedType", "TypeMap", "flat_type", "json_text", "json_value_text"]

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


class FlatType(enum.Enum):
    NEVER = "never"  # no possible type: cannot be materialized
    NULL = "null"  # only null: cannot be materialized
    BOOLEAN = "boolean"
    INTEGER = "integer"
    NUMBER = "number"
    STRING = "string"
    STRING_INTEGER = "string (integer)"  # a string with `format: integer`
    STRING_NUMBER = "string (number)"  # a string with `format: number`
    BINARY = "binary"  # a base64 string of raw bytes
    OBJECT = "object"
    ARRAY = "array"
    MULTIPLE = "multiple"  # several JSON types


def flat_type(projection: Projection, is_key: bool = False) -> tuple[FlatType, bool]:
    """The projection's flat type and whether it must exist (present and never null)."""
    inference = projection.inference
    types = set(inference.types)
    must_exist = inference.exists == "MUST" and "null" not in types
    non_null = types - {"null"}
    string = inference.string
    fmt = string.format if string is not None else ""
    if not is_key and "string" in non_null:
        if fmt == "integer" and non_null <= {"integer", "string"}:
            return FlatType.STRING_INTEGER, must_exist
        if fmt == "number" and non_null <= {"integer", "number", "string"}:
            return FlatType.STRING_NUMBER, must_exist
    if non_null == {"integer", "number"}:
        return FlatType.NUMBER, must_exist
    if not non_null:
        return (FlatType.NULL if types else FlatType.NEVER), must_exist
    if len(non_null) > 1:
        return FlatType.MULTIPLE, must_exist
    (only,) = non_null
    if only == "string":
        media = string.contentType if string is not None else ""
        encoding = string.contentEncoding if string is not None else ""
        if encoding == "base64" and media in ("", "application/octet-stream"):
            return FlatType.BINARY, must_exist
        return FlatType.STRING, must_exist
    try:
        return FlatType(only), must_exist
    except ValueError:
        return FlatType.NEVER, must_exist


def _exceeds_int64(projection: Projection) -> bool:
    numeric = projection.inference.numeric
    if numeric is None:
        return False
    return (numeric.hasMaximum and numeric.maximum > _INT64_MAX) or (
        numeric.hasMinimum and numeric.minimum < _INT64_MIN
    )


# -- value converters (packed tuple element -> statement parameter) -------------------------------


def json_text(value: Any) -> Any:
    """An object or array (packed as the bytes of its JSON) as JSON text."""
    if isinstance(value, bytes):
        return value.decode()
    return value


def json_value_text(value: Any) -> Any:
    """A value of several possible JSON types, as JSON text (null stays NULL)."""
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode()
    return orjson.dumps(value).decode()


def base64_bytes(value: Any) -> Any:
    """A base64 string as the bytes it encodes."""
    if isinstance(value, str):
        return base64.b64decode(value)
    return value


def as_string(value: Any) -> Any:
    """Any value as a string (`castToString`): JSON text for non-strings."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode()
    return orjson.dumps(value).decode()


Converter = Callable[[Any], Any]


@dataclass(frozen=True)
class ColumnType:
    """A column DDL (without NOT NULL), the names the destination's catalog reports for columns
    of this type (lowercase; the DDL itself always counts), and how a value becomes a parameter
    (None: as it is)."""

    ddl: str
    also: frozenset[str] = frozenset()
    convert: Converter | None = None

    def matches(self, existing: str) -> bool:
        """Whether an existing column of catalog type `existing` already is this type."""
        existing = existing.strip().lower()
        return existing == self.ddl.lower() or existing in self.also


@dataclass(frozen=True)
class MappedType:
    """The column a field becomes: its type, whether NOT NULL, and its flat type."""

    column: ColumnType
    not_null: bool
    flat: FlatType
    user_ddl: bool = False  # a `DDL` field config: always compatible with an existing column

    @property
    def ddl(self) -> str:
        return self.column.ddl + (" NOT NULL" if self.not_null else "")

    @property
    def nullable_ddl(self) -> str:
        return self.column.ddl

    def compatible(self, existing: str) -> bool:
        return self.user_ddl or self.column.matches(existing)


@dataclass(frozen=True)
class TypeMap:
    """A destination's column type for each flat type. `formats` refine strings by their JSON
    schema `format` (date-time, date, uuid, ...); `key_formats` do so for key columns, which may
    need a type that round-trips exactly. `wide_integer` holds integers whose schema allows values
    beyond 64 bits."""

    boolean: ColumnType
    integer: ColumnType
    wide_integer: ColumnType
    number: ColumnType
    string: ColumnType
    string_integer: ColumnType
    string_number: ColumnType
    binary: ColumnType
    object: ColumnType
    array: ColumnType
    multiple: ColumnType
    document: ColumnType
    formats: Mapping[str, ColumnType] = field(default_factory=dict)
    key_formats: Mapping[str, ColumnType] = field(default_factory=dict)
    string_converter: Converter | None = None  # applied to plain string columns (e.g. strip NUL)

    def map(self, projection: Projection, field_config: Any = None, is_key: bool = False) -> MappedType:
        """The column of `projection` (the root projection is the document)."""
        flat, must_exist = flat_type(projection, is_key)
        not_null = must_exist or is_key
        config = field_config if isinstance(field_config, dict) else {}
        user_ddl = config.get("DDL")
        if isinstance(user_ddl, str) and user_ddl.strip():
            return MappedType(ColumnType(user_ddl.strip()), not_null, flat, user_ddl=True)
        if not projection.ptr:
            return MappedType(self.document, True, FlatType.OBJECT)
        if config.get("castToString") or config.get("ignoreStringFormat"):
            if flat in (FlatType.NEVER, FlatType.NULL):
                return MappedType(self.string, not_null, flat)
            return MappedType(
                ColumnType(self.string.ddl, self.string.also, as_string), not_null, FlatType.STRING
            )
        return MappedType(self._column(projection, flat, is_key), not_null, flat)

    def _column(self, projection: Projection, flat: FlatType, is_key: bool) -> ColumnType:
        if flat is FlatType.STRING:
            string = projection.inference.string
            fmt = string.format if string is not None else ""
            formats = self.key_formats if is_key and fmt in self.key_formats else self.formats
            chosen = formats.get(fmt, self.string)
            if chosen is self.string and self.string_converter is not None:
                return ColumnType(chosen.ddl, chosen.also, self.string_converter)
            return chosen
        if flat is FlatType.INTEGER:
            return self.wide_integer if _exceeds_int64(projection) else self.integer
        by_flat = {
            FlatType.BOOLEAN: self.boolean,
            FlatType.NUMBER: self.number,
            FlatType.STRING_INTEGER: self.string_integer,
            FlatType.STRING_NUMBER: self.string_number,
            FlatType.BINARY: self.binary,
            FlatType.OBJECT: self.object,
            FlatType.ARRAY: self.array,
            FlatType.MULTIPLE: self.multiple,
        }
        try:
            return by_flat[flat]
        except KeyError:
            raise ValueError(f"a field of type {flat.value} cannot be materialized") from None
