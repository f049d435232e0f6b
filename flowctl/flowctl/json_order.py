"""A total order over JSON values, used to sort combined documents by key the way the
runtime's combiner drains them (binding, then key): null < booleans < numbers < strings <
arrays < objects; within a type, natural order (arrays and objects element-wise)."""

from __future__ import annotations

from typing import Any


def sort_key(value: Any) -> tuple[Any, ...]:
    """A Python-comparable stand-in for a JSON value."""
    if value is None:
        return (0,)
    if value is True or value is False:
        return (1, value)
    if isinstance(value, int | float):
        return (2, value)
    if isinstance(value, str):
        return (3, value)
    if isinstance(value, list):
        return (4, tuple(sort_key(v) for v in value))
    if isinstance(value, dict):
        return (5, tuple((k, sort_key(v)) for k, v in sorted(value.items())))
    return (6, repr(value))


def compare(a: Any, b: Any) -> int:
    ka, kb = sort_key(a), sort_key(b)
    return (ka > kb) - (ka < kb)
