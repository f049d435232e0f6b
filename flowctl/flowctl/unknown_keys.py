"""Config keys the connector's schema does not declare: most often a typo (`base_ur:`), which a
schema that allows extra properties accepts silently, so the connector runs with its default
(issue 12, item 8). flowctl warns about each one, naming it and the keys declared at that level;
a schema with `additionalProperties: false` already makes them validation errors."""

from __future__ import annotations

from typing import Any

from . import json_pointer


def _resolve(root: Any, node: Any, depth: int = 0) -> Any:
    """`node` with a local `$ref` (`#/$defs/X`) followed, as far as it goes."""
    while (
        isinstance(node, dict)
        and isinstance(node.get("$ref"), str)
        and node["$ref"].startswith("#")
        and depth < 20
    ):
        try:
            node = json_pointer.resolve(root, node["$ref"][1:])
        except (KeyError, IndexError, ValueError):
            return {}
        depth += 1
    return node


def _branches(root: Any, node: Any) -> list[dict[str, Any]]:
    """The schemas that together describe one object: the node and its allOf/anyOf/oneOf parts."""
    node = _resolve(root, node)
    if not isinstance(node, dict):
        return []
    out = [node]
    for keyword in ("allOf", "anyOf", "oneOf"):
        for sub in node.get(keyword) or []:
            out.extend(_branches(root, sub))
    return out


def unknown_keys(schema: Any, instance: Any) -> list[tuple[str, list[str]]]:
    """(pointer, declared names at that level) of every key of `instance` that no part of `schema`
    declares, where the schema lists properties and leaves others open."""
    found: list[tuple[str, list[str]]] = []

    def walk(node: Any, value: Any, at: str) -> None:
        if not isinstance(value, dict):
            return
        parts = _branches(schema, node)
        declared: dict[str, Any] = {}
        open_ended = False
        for part in parts:
            props = part.get("properties")
            if isinstance(props, dict):
                for name, sub in props.items():
                    declared.setdefault(name, sub)
            extra = part.get("additionalProperties")
            if part.get("patternProperties") or (isinstance(extra, dict) and extra):
                open_ended = True  # other keys are described by a schema: not unknown
        if not declared:
            return
        for key, item in value.items():
            pointer = f"{at}/{json_pointer.escape(str(key))}"
            if key in declared:
                walk(declared[key], item, pointer)
            elif not open_ended:
                found.append((pointer, sorted(declared)))

    walk(schema, instance, "")
    return found
