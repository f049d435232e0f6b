"""RFC 7396 JSON merge patch: applying patches to state, and folding several patches into one."""

from __future__ import annotations

import copy
from typing import Any


def apply_merge_patch(target: Any, patch: Any) -> Any:
    """Return `target` patched by `patch` (RFC 7396). `target` is not modified."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result: dict[str, Any] = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = apply_merge_patch(result.get(key), value)
    return result


def compose_merge_patches(first: Any, second: Any) -> Any:
    """One patch equivalent to applying `first` then `second` (nulls are kept: they still delete
    in the base document). Where `first` deletes or replaces a key with a non-object and
    `second` patches it with an object, the composed value is `second` without its nulls."""
    if not isinstance(second, dict):
        return copy.deepcopy(second)
    if not isinstance(first, dict):
        return apply_merge_patch({}, second) if first is not None else copy.deepcopy(second)
    result = dict(first)
    for key, value in second.items():
        if value is None:
            result[key] = None
        elif key in result and isinstance(value, dict):
            prior = result[key]
            result[key] = (
                compose_merge_patches(prior, value)
                if isinstance(prior, dict)
                else apply_merge_patch({}, value)
            )
        else:
            result[key] = copy.deepcopy(value)
    return result
