"""Parsing catalog files (YAML and JSON) strictly, with errors that never quote the file.

Two things a plain `yaml.safe_load` gets wrong for a catalog:

* a key written twice in one mapping (two `bindings:` in a capture) silently keeps the last
  value, so a run captures less and exits 0. Here it is an error naming the key and its lines
  (JSON files too: `orjson` also keeps the last).
* a syntax error's message quotes the offending source line, and in a config that line may
  hold a secret. Here errors say only what is wrong and where (line and column).
"""

from __future__ import annotations

import json
from typing import Any

import orjson
import yaml
from yaml.nodes import MappingNode, Node

__all__ = ["DuplicateKeyError", "SourceSyntaxError", "load_json", "load_yaml"]

_MERGE_TAG = "tag:yaml.org,2002:merge"


class SourceSyntaxError(ValueError):
    """The file is not valid YAML/JSON. The message names the line and column and what is
    wrong there, never the text of the line."""


class DuplicateKeyError(SourceSyntaxError):
    """A mapping holds the same key twice (the second would silently replace the first)."""

    def __init__(self, key: Any, line: int | None, first_line: int | None) -> None:
        self.key = key
        self.line = line
        self.first_line = first_line
        where = f"line {line}: " if line is not None else ""
        first = f" (first at line {first_line})" if first_line is not None else ""
        super().__init__(
            f"{where}duplicate key {key!r}{first}: a mapping may hold each key once (the second "
            "would silently replace the first); remove or merge one of them"
        )


class _StrictLoader(yaml.SafeLoader):
    """`SafeLoader` that refuses duplicate keys (merge keys `<<` may still be overridden)."""

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, Node] = {}
        for key_node, _ in node.value:
            if key_node.tag == _MERGE_TAG:
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.get(key)
            except TypeError:
                continue  # unhashable: the base class reports it
            if first is not None:
                raise DuplicateKeyError(key, key_node.start_mark.line + 1, first.start_mark.line + 1)
            seen[key] = key_node
        return super().construct_mapping(node, deep=deep)


def _describe(err: yaml.YAMLError) -> str:
    """What is wrong and where, without `yaml`'s snippet of the source line."""
    if isinstance(err, yaml.MarkedYAMLError):
        mark = err.problem_mark or err.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        what = err.problem or err.context or "invalid YAML"
        context = ""
        if err.context and err.problem and err.context_mark is not None:
            context = f" ({err.context} at line {err.context_mark.line + 1})"
        return f"{where}{what}{context}"
    if isinstance(err, yaml.reader.ReaderError):
        return f"byte {err.position}: {err.reason}"
    return type(err).__name__


def load_yaml(raw: bytes | str) -> Any:
    """Parse YAML, refusing duplicate keys. Raises `SourceSyntaxError`."""
    try:
        return yaml.load(raw, Loader=_StrictLoader)  # a SafeLoader: plain data only
    except yaml.YAMLError as err:
        raise SourceSyntaxError(_describe(err)) from None


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise DuplicateKeyError(key, None, None)
        out[key] = value
    return out


def load_json(raw: bytes) -> Any:
    """Parse JSON, refusing duplicate keys. Raises `SourceSyntaxError` (orjson's messages give
    the position, never the text)."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as err:
        raise SourceSyntaxError(f"line {err.lineno}, column {err.colno}: {err.msg}") from None
    if b'"' in raw and _has_objects(value):
        json.loads(raw, object_pairs_hook=_no_duplicates)  # only to find a repeated key
    return value


def _has_objects(value: Any) -> bool:
    if isinstance(value, dict):
        return True
    return isinstance(value, list) and any(isinstance(v, dict | list) for v in value)
