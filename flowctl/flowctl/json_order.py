"""A total order over JSON values, used to sort combined documents by key the way the
runtime's combiner drains them (binding, then key): null < booleans < numbers < strings <
arrays < objects; within a type, natural order (arrays and objects element-wise).

Equality follows Flow too: values of different JSON types are never equal (`true` is not `1`,
`"1"` is not `1`), while numbers compare by value (`1` equals `1.0`). Python's own `==` and
`hash` get the booleans wrong (`True == 1`), hence `typed_key`."""

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


# Tags of the JSON types Python would confuse or cannot hash, in Flow's order of types.
_BOOL = 1
_ARRAY = 4
_OBJECT = 5
_PLAIN = frozenset({str, int, float, type(None)})


def typed_key(value: Any) -> Any:
    """A hashable stand-in for a JSON value whose Python equality is Flow's: strings, numbers and
    null stand for themselves (1 == 1.0 holds for both); booleans, arrays and objects become
    `(tag, ...)` tuples, which never equal a plain value. Between typed keys of the same shape,
    Python's ordering is Flow's (where Python can compare them at all: see `typed_sort_key`)."""
    cls = value.__class__
    if cls in _PLAIN:
        return value
    if cls is bool:
        return (_BOOL, value)
    if cls is list:
        return (_ARRAY, tuple(typed_key(v) for v in value))
    if cls is dict:
        return (_OBJECT, tuple(sorted((k, typed_key(v)) for k, v in value.items())))
    if isinstance(value, bool):
        return (_BOOL, bool(value))
    if isinstance(value, str | int | float):
        return value
    raise TypeError(f"not a JSON value: {value!r}")


def typed_sort_key(key: Any) -> tuple[Any, ...]:
    """The total order of `typed_key` results, comparable across JSON types (as `sort_key`)."""
    if key is None:
        return (0,)
    cls = key.__class__
    if cls is tuple:
        tag, inner = key
        if tag == _BOOL:
            return (1, inner)
        if tag == _ARRAY:
            return (4, tuple(typed_sort_key(v) for v in inner))
        return (5, tuple((k, typed_sort_key(v)) for k, v in inner))
    if cls is str:
        return (3, key)
    return (2, key)


def untyped(key: Any) -> Any:
    """The JSON value a `typed_key` stands for."""
    if key.__class__ is not tuple:
        return key
    tag, inner = key
    if tag == _BOOL:
        return inner
    if tag == _ARRAY:
        return [untyped(v) for v in inner]
    return {k: untyped(v) for k, v in inner}
