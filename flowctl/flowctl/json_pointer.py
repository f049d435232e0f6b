"""JSON pointers (RFC 6901), the one implementation flowctl uses: catalog fragments and error
locations, collection keys, reduce annotations, projections and the fields a materialization
extracts from documents all address values this way."""

from __future__ import annotations

from typing import Any


def escape(token: str) -> str:
    """One reference token, escaped (`~` → `~0`, `/` → `~1`)."""
    return token.replace("~", "~0").replace("/", "~1")


def unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def join(*tokens: str | int) -> str:
    """A pointer from unescaped tokens: `join("a", "b/c")` is `/a/b~1c`."""
    return "".join("/" + escape(str(t)) for t in tokens)


def split(pointer: str) -> list[str]:
    """The unescaped tokens of `pointer`; the root (`""`, or `/` as catalogs write it) has none."""
    if pointer in ("", "/"):
        return []
    return [unescape(raw) for raw in pointer.lstrip("/").split("/")]


def resolve(doc: Any, pointer: str) -> Any:
    """Value at `pointer`; raises KeyError (or IndexError/ValueError for a bad array index)
    when it does not exist."""
    node = doc
    for token in split(pointer):
        if isinstance(node, dict):
            node = node[token]
        elif isinstance(node, list):
            node = node[int(token)]
        else:
            raise KeyError(pointer)
    return node


_MISSING = object()


def query(doc: Any, tokens: list[str], default: Any = None) -> Any:
    """Value at pre-split `tokens`, or `default` when any step is missing (the hot path of key
    and field extraction: no exceptions for absent values)."""
    node = doc
    for token in tokens:
        cls = node.__class__
        if cls is dict:
            node = node.get(token, _MISSING)
            if node is _MISSING:
                return default
        elif cls is list:
            if not token.isdigit() or int(token) >= len(node):
                return default
            node = node[int(token)]
        else:
            return default
    return node


def create(doc: dict[str, Any], tokens: list[str], value: Any) -> None:
    """Set `value` at `tokens` inside `doc`, creating objects on the way (how the runtime writes
    a document's UUID at the collection's `uuidPtr`). A non-object in the way is replaced."""
    node = doc
    for token in tokens[:-1]:
        child = node.get(token)
        if not isinstance(child, dict):
            child = node[token] = {}
        node = child
    node[tokens[-1]] = value
