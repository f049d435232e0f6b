"""Collection keys: what the build requires of them, and their values when a document lacks them.

Flow's build refuses a collection whose key could be absent or ambiguous (flow-protocol §6.1):
each key pointer must name a location of the write schema that every document has (required
all the way down), whose types are integers, strings or booleans only (never null, a fraction,
an object or an array). Without this check a key such as `/issue_id` that no document has
extracts as "nothing" for every document, and the combiner silently merges all of them into one.

One allowance: a location that may be absent but has a keyable `default` is accepted, and a
document without it takes the default as its key (as Flow's extractors do). The kit's snapshot
collections rely on this: they are keyed on `/_meta/row_id`, which its schema leaves optional
with `default: -1`, while the engine sets it on every document it emits."""

from __future__ import annotations

from typing import Any

from . import json_pointer
from . import shape as shapes
from .catalog import Collection
from .errors import CatalogError

ABSENT: Any = object()  # "no default": a document without the location has no key
_KEYABLE = frozenset({shapes.INTEGER, shapes.STRING, shapes.BOOLEAN})
_WORDS = {
    shapes.NULL: "null",
    shapes.FRACTIONAL: "a number with a fraction",
    shapes.OBJECT: "an object",
    shapes.ARRAY: "an array",
}


def _keyable_default(at: shapes.Shape) -> bool:
    value = at.default if shapes.has_default(at) else ABSENT
    return isinstance(value, int | str)


def _undeclared(root: shapes.Shape, pointer: str) -> str | None:
    """Why `pointer` is not a declared location of the schema, or None when it is."""
    at = root
    walked = ""
    for token in json_pointer.split(pointer):
        if shapes.OBJECT not in at.types:
            return f"{walked or 'the document root'} cannot be an object, so it has no property {token!r}"
        prop = at.properties.get(token)
        if prop is None:
            names = ", ".join(sorted(at.properties)[:12]) or "none"
            where = f"at {walked}" if walked else "at the document root"
            return f"the schema declares no property {token!r} {where} (its properties: {names})"
        at = prop.shape
        walked += "/" + json_pointer.escape(token)
    return None


def key_problems(schema: dict[str, Any], key: list[str]) -> list[str]:
    """Why each pointer of `key` cannot be a key of documents of `schema` (empty when all can)."""
    root = shapes.shape_of(schema)
    problems: list[str] = []
    for pointer in key:
        at, exists = shapes.locate(root, pointer)
        undeclared = _undeclared(root, pointer)
        if exists == shapes.CANNOT:
            why = undeclared or "the schema allows no value there"
            problems.append(f"key {pointer} can never exist in documents of this schema: {why}")
            continue
        if undeclared is not None and exists != shapes.MUST:
            problems.append(
                f"key {pointer} is not a location of the schema: {undeclared}. No document would "
                "have this key, so all of them would merge into one"
            )
            continue
        if exists != shapes.MUST and not _keyable_default(at):
            parent, _, name = pointer.rpartition("/")
            above = f" at {parent} (and of every object above it)" if parent else ""
            problems.append(
                f"key {pointer} is not required: list {json_pointer.unescape(name)!r} in `required` "
                f"of the schema{above}, so that every document has its key"
            )
        bad = [
            _WORDS[t] for t in (shapes.NULL, shapes.FRACTIONAL, shapes.OBJECT, shapes.ARRAY) if t in at.types
        ]
        if bad:
            allowed = ", ".join(at.type_names())
            problems.append(
                f"key {pointer} may be {' or '.join(bad)} (its types: {allowed}): keys must be integers, "
                "strings or booleans, and never null"
            )
    return problems


def check_collection_key(collection: Collection) -> None:
    """Refuse a collection whose key its write schema does not guarantee (a CatalogError naming
    the collection's file, the key's location in it and every reason)."""
    problems = key_problems(collection.write_schema, collection.key)
    if problems:
        raise CatalogError(
            collection.file,
            collection.location + "/key",
            f"collection {collection.name}: " + "; ".join(problems),
        )


def key_defaults(schema: dict[str, Any], key: list[str]) -> list[Any]:
    """Per key pointer: the schema's `default` where the location may be absent and has one,
    else ABSENT (a document without the location has no key: an error, never a merge)."""
    root = shapes.shape_of(schema)
    out: list[Any] = []
    for pointer in key:
        at, exists = shapes.locate(root, pointer)
        out.append(at.default if exists != shapes.MUST and _keyable_default(at) else ABSENT)
    return out
