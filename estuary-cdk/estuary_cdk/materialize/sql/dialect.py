"""SQL dialects: how a destination spells identifiers and literals, folds names and limits them.
Each connector defines its own (its keywords, its identifier limit).

A field of a collection becomes a column whose name is the field itself (never rewritten, never
flattened): `_meta/op` stays `"_meta/op"`. An identifier is written bare only when it is plain
lowercase (`^[_a-z][_a-z0-9]*$` in Unicode terms) and not a keyword of the destination;
everything else is double-quoted with `"` doubled inside (materialize-sql.md §4.5 — the Go SQLite
dialect escapes `"` as `\\"`, which SQLite rejects; we do not).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Dialect"]


def _plain(name: str) -> bool:
    """Whether `name` is lowercase letters, `_` and (after the first character) digits."""
    if not name or not (name[0] == "_" or name[0].islower()):
        return False
    return all(ch == "_" or ch.islower() or ch.isdigit() for ch in name[1:])


def _truncate_utf8(name: str, limit: int) -> str:
    """`name` cut to at most `limit` UTF-8 bytes without splitting a character."""
    encoded = name.encode()
    if len(encoded) <= limit:
        return name
    return encoded[:limit].decode(errors="ignore")


@dataclass(frozen=True)
class Dialect:
    """One destination's rules for names.

    `max_identifier_bytes` is where the destination cuts longer names (PostgreSQL: 63 bytes, as
    it does itself); 0 means no limit. `case_insensitive` says that two names differing only in
    case are the same column (SQLite), which the runtime must know to refuse such field pairs.
    """

    name: str
    keywords: frozenset[str]
    max_identifier_bytes: int = 0
    case_insensitive: bool = False
    default_schema: str = ""

    def identifier(self, name: str) -> str:
        """`name` as the destination stores it (cut to the identifier limit)."""
        if self.max_identifier_bytes:
            return _truncate_utf8(name, self.max_identifier_bytes)
        return name

    def quote(self, name: str) -> str:
        """`name` ready for SQL: bare when plain and not a keyword, else double-quoted."""
        name = self.identifier(name)
        if _plain(name) and name not in self.keywords:
            return name
        return '"' + name.replace('"', '""') + '"'

    def path(self, parts: Sequence[str]) -> str:
        """A qualified name (`schema.table`), each part quoted as needed."""
        return ".".join(self.quote(p) for p in parts)

    def literal(self, text: str) -> str:
        """A string literal (`'` doubled inside)."""
        return "'" + text.replace("'", "''") + "'"

    def same_name(self, a: str, b: str) -> bool:
        """Whether two names denote the same column here."""
        a, b = self.identifier(a), self.identifier(b)
        return a.lower() == b.lower() if self.case_insensitive else a == b

    def folded(self, field_name: str) -> str:
        """The field's column name when the destination changes it (else "")."""
        column = self.identifier(field_name)
        return column if column != field_name else ""
