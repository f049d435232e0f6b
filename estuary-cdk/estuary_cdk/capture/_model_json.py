"""Model documents as JSON, written by orjson wherever that gives pydantic's own bytes.

Serializing a model document with pydantic (`by_alias=True, exclude_unset=True`) costs about
as much as validating it, and a capture does it for every document. For the common shape of
document model (plain fields of JSON-native types, nested models, no custom serializers),
orjson writes the same bytes from a dict of the instance's set fields in well under half the
time.

Whether a class qualifies is decided once, from its pydantic core schema: every schema node
must be of a type whose pydantic serialization is what orjson writes for the validated value,
with no custom serializers, computed fields, `exclude_if`, typed extras, root models or
non-default `ser_json_*` settings anywhere. For a class that qualifies, a converter specialised
to its fields (generated source, compiled once) builds the dict; nested models of the classes
the schema declares are converted the same way. Per document, anything orjson does not write
natively (Decimal, bytes, timedelta, sets, dataclasses, huge ints, non-string keys, a nested
model of a class the schema does not declare, such as a subclass of the declared one) makes
the whole document fall back to pydantic, so such documents come out exactly as before.

One difference is accepted deliberately: a datetime whose UTC offset has a seconds part (only
historical zoneinfo offsets do) has its offset rounded to the minute by orjson where pydantic
truncates it.

The one entry is `serializer_for(cls)` (`model_json(model)` is a convenience over it); the
per-class registry stays private.

What it buys, measured with `estuary-cdk/.venv/bin/python bench/cdk_emit/model_json_gain.py`
(20,000 documents of cdk_emit's 15-field `Item` with nested model, datetimes and a list; the same
documents each way, outputs checked byte-equal, best of 5; pydantic 2.14.4, on the project's shared
2-core machine): 3.27 us/doc generated against 5.65 us/doc with `__pydantic_serializer__.to_json`
(the fallback; 7.29 with `model_dump_json`): 2.4 us (1.7x) per document. On hello-world's
4-field `Greeting` the design review measured 0.92 against 1.37 us/doc (0.45 us). The price: this
module reads pydantic's core schema and instance internals (`__dict__`,
`__pydantic_fields_set__`, `__pydantic_extra__`), so pydantic's minor version is pinned in
pyproject.toml and `tests/test_core_model_json.py` (differential tests against pydantic's own
bytes) must pass before the pin moves.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson
import pydantic
from pydantic import BaseModel

__all__ = ["Serializer", "model_json", "serializer_for"]

_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_PASSTHROUGH_DATACLASS

ORJSON_FROM = (2, 10)
"""The oldest pydantic whose JSON this module reproduces (its differential tests pass there).
Older pydantic-cores write some values differently (2.7 writes the float 1e16 as `1e16` where
orjson writes `1e+16`), so under them every class is written by pydantic itself: slower, but
the same bytes the reference kit writes with that pydantic."""

_ORJSON_MATCHES = tuple(int(part) for part in pydantic.VERSION.split(".")[:2]) >= ORJSON_FROM

# Core schema node types whose serialization of a validated value is what orjson writes for
# that value (given no `serialization` override on the node).
_LEAF_TYPES = frozenset(
    {"any", "none", "bool", "int", "float", "str", "literal", "enum", "datetime", "date", "time", "uuid"}
)
_WRAPPER_TYPES = frozenset(
    {
        "default",
        "nullable",
        "list",
        "tuple",
        "set",  # A set value itself falls back per document (orjson rejects sets).
        "dict",
        "union",
        "tagged-union",
        "function-after",
        "function-before",
        "function-wrap",
        "function-plain",
        "chain",
        "lax-or-strict",
        "json-or-python",
        "custom-error",
        "definitions",
        "definition-ref",
        "model",
        "model-fields",
        "model-field",
    }
)
# `ser_json_*` settings at their defaults; any other value changes what pydantic writes.
_DEFAULT_SER_CONFIG = {
    "ser_json_inf_nan": "null",
    "ser_json_temporal": "iso8601",
    "ser_json_timedelta": "iso8601",
    "ser_json_bytes": "utf8",
}

Converter = Callable[[Any], dict[str, Any]]

_GIVE_UP_AFTER = 64
"""Documents in a row that must fall back to pydantic before a class stops trying orjson."""


class _Fallback(Exception):
    """This document holds something only pydantic serializes like pydantic."""


@dataclass(frozen=True)
class _Field:
    name: str  # attribute name
    key: str  # output key under by_alias
    has_default: bool  # only such fields can be unset in a validated instance
    excluded: bool  # Field(exclude=True)
    model: type | None  # the model class of a field declared as one (optionally nullable)


Serializer = Callable[[BaseModel], bytes]


class _Registry(dict[type, Serializer | None]):
    """Per class: the function that writes its instances (None for a class that is not a
    pydantic model), built on first lookup. A class whose documents keep falling back is
    re-registered with pydantic's serializer (see `_compile`)."""

    def __missing__(self, cls: type) -> Serializer | None:
        serialize = _build(cls) if isinstance(cls, type) and issubclass(cls, BaseModel) else None
        self[cls] = serialize
        return serialize


_serializers = _Registry()

serializer_for: Callable[[type], Serializer | None] = _serializers.__getitem__
"""`serializer_for(cls)`: the function that writes instances of `cls` exactly as pydantic does
with `by_alias=True, exclude_unset=True` (None when `cls` is not a pydantic model): the one
entry to this module. Cheap enough for the per-document path (a dict lookup in C once the class
was seen); look it up per document, not once per class, so a class that gave up on orjson is
written by pydantic from then on."""


def model_json(model: BaseModel) -> bytes:
    """`model` as pydantic writes it with `by_alias=True, exclude_unset=True`."""
    serialize = serializer_for(model.__class__)
    assert serialize is not None  # a BaseModel instance's class is a model class
    return serialize(model)


def _pydantic_json(model: BaseModel) -> bytes:
    return model.__pydantic_serializer__.to_json(model, by_alias=True, exclude_unset=True)


def _build(cls: type[BaseModel]) -> Serializer:
    if not _ORJSON_MATCHES:
        return _pydantic_json
    try:
        plans = _plan_classes(cls)
    except _Fallback:
        return _pydantic_json
    if any(a is not b and issubclass(a, b) for a in plans for b in plans):
        # A subclass instance in a field declared as its base is written with the base's
        # fields by pydantic; the instance's own class would be ambiguous here.
        return _pydantic_json
    return _compile(cls, plans)


# -- generated code ----------------------------------------------------------------------------


def _compile(root: type, plans: dict[type, list[_Field]]) -> Serializer:
    """Generated from the fields, per class: `_convert_i` turns an instance into the dict orjson
    writes (set fields in declaration order under their output keys, nested declared models
    converted in place, extras last); `_serialize_{root}` does the same for the document and
    writes it, falling back to pydantic. The orjson `default` hook converts the declared models
    that sit deeper (in lists, dicts, unions, extras) and refuses any other object."""
    index = {model_cls: i for i, model_cls in enumerate(plans)}
    converters: dict[type, Converter] = {}
    lookup = converters.get

    def hook(obj: Any) -> Any:
        convert = lookup(obj.__class__)
        if convert is None:
            raise _Fallback
        return convert(obj)

    # Consecutive documents of this class that orjson could not write. A class whose documents
    # keep holding such values (a Decimal field typed `Any`, say) would pay for both paths on
    # every document: after `_GIVE_UP_AFTER` in a row it is handed to pydantic for good.
    streak = [0]

    def fell_back(model: BaseModel) -> bytes:
        streak[0] += 1
        if streak[0] >= _GIVE_UP_AFTER:
            _serializers[root] = _pydantic_json
        return _pydantic_json(model)

    namespace: dict[str, Any] = {
        "_dumps": orjson.dumps,
        "_OPTIONS": _OPTIONS,
        "_hook": hook,
        "_fell_back": fell_back,
        "_STREAK": streak,
    }
    sources = []
    for model_cls, fields in plans.items():
        i = index[model_cls]
        namespace[f"_MODEL_{i}"] = model_cls
        namespace[f"_REQUIRED_{i}"] = frozenset(f.name for f in fields if not f.has_default)
        namespace[f"_KEYS_{i}"] = {f.name: f.key for f in fields if not f.excluded}
        sources.append(_function_source(f"_convert_{i}", i, fields, index, ["return out"]))
        sources.append(_general_source(i))
    root_index = index[root]
    serialize_tail = [
        "try:",
        "    data = _dumps(out, default=_hook, option=_OPTIONS)",
        "except TypeError:  # orjson.JSONEncodeError, also for what the hook refuses",
        "    return _fell_back(model)",
        "if _STREAK[0]:",
        "    _STREAK[0] = 0",
        "return data",
    ]
    sources.append(_function_source("_serialize", root_index, plans[root], index, serialize_tail))
    exec(
        compile("\n".join(sources), f"<estuary_cdk model serializer for {root.__qualname__}>", "exec"),
        namespace,
    )
    converters.update({model_cls: namespace[f"_convert_{index[model_cls]}"] for model_cls in plans})
    serialize: Serializer = namespace["_serialize"]
    return serialize


def _function_source(name: str, i: int, fields: list[_Field], index: dict[type, int], tail: list[str]) -> str:
    """Copy `__dict__` only when something must change (cheaper than building a dict key by
    key), drop what is unset or excluded, convert nested declared models in place; a renamed
    field keeps its position as long as only leading fields are renamed, otherwise the dict is
    built key by key. `tail` turns `out` into the result."""
    kept = [f for f in fields if not f.excluded]
    renamed = [f for f in kept if f.key != f.name]
    leading = all(f.key != f.name for f in kept[: len(renamed)])

    def nested(f: _Field) -> bool:
        return f.model is not None and f.model in index

    def value_of(f: _Field, source: str) -> list[str]:
        if not nested(f):
            return [f"value = {source}[{f.name!r}]"]
        j = index[f.model]  # type: ignore[index]
        return [
            f"value = {source}[{f.name!r}]",
            f"if value.__class__ is _MODEL_{j}:",
            f"    value = _convert_{j}(value)",
        ]

    def assign(f: _Field, target: str) -> list[str]:
        """`target[key] = value` for field `f`, only if it is set when it has a default."""
        if not nested(f):
            body = [f"{target}[{f.key!r}] = values[{f.name!r}]"]
        else:
            body = [*value_of(f, "values"), f"{target}[{f.key!r}] = value"]
        if not f.has_default:
            return body
        return [f"if {f.name!r} in fields_set:", *("    " + line for line in body)]

    body = [
        "values = model.__dict__",
        "fields_set = model.__pydantic_fields_set__",
        f"if len(values) != {len(fields)} or not _REQUIRED_{i} <= fields_set:",
        f"    out = _general_{i}(model, values, fields_set)",
        "else:",
    ]
    build: list[str] = []
    if renamed and not leading:
        build.append("out = {}")
        for f in kept:
            build += assign(f, "out")
    else:
        copy_now = bool(renamed) or any(f.excluded or (nested(f) and not f.has_default) for f in fields)
        if renamed:
            # Only leading fields are renamed: set ones go first under their keys, then the rest.
            build.append("head = {}")
            for f in renamed:
                build += assign(f, "head")
            build.append("out = {**head, **values} if head else values.copy()")
        else:
            build.append("out = values.copy()" if copy_now else "out = values")
        lazy_copy = [] if copy_now else ["if out is values:", "    out = values.copy()"]
        for f in fields:
            if f.excluded or f in renamed:
                build.append(f"del out[{f.name!r}]")
            elif f.has_default:
                build.append(f"if {f.name!r} not in fields_set:")
                build += ["    " + line for line in [*lazy_copy, f"del out[{f.name!r}]"]]
                if nested(f):
                    build.append("else:")
                    build += ["    " + line for line in [*lazy_copy, *value_of(f, "out")]]
                    build.append(f"    out[{f.name!r}] = value")
            elif nested(f):
                build += [*value_of(f, "out"), f"out[{f.name!r}] = value"]
    build += [
        "extra = model.__pydantic_extra__",
        "if extra:",
        "    if out is values:",
        "        out = {**values, **extra}",
        "    else:",
        "        out.update(extra)",
    ]
    lines = [f"def {name}(model):"]
    lines += ["    " + line for line in body]
    lines += ["        " + line for line in build]
    lines += ["    " + line for line in tail]
    return "\n".join(lines) + "\n"


def _general_source(i: int) -> str:
    return "\n".join(
        [
            f"def _general_{i}(model, values, fields_set):",
            "    # `__dict__` holds more than the fields (a cached_property's value) or fewer, or",
            "    # a required field is not marked set (both only after model_construct): the set",
            "    # fields that are present, in declaration order, then the extras.",
            f"    out = {{key: values[name] for name, key in _KEYS_{i}.items() if name in fields_set and name in values}}",
            "    extra = model.__pydantic_extra__",
            "    if extra:",
            "        out.update(extra)",
            "    return out",
            "",
        ]
    )


# -- deciding which classes qualify ----------------------------------------------------------


def _plan_classes(root: type[BaseModel]) -> dict[type, list[_Field]]:
    """The fields of `root` and of every model class its schema declares; raises _Fallback when
    any part of the schema is outside what orjson reproduces."""
    plans: dict[type, list[_Field]] = {}
    definitions: dict[str, dict[str, Any]] = {}
    _collect_definitions(root.__pydantic_core_schema__, definitions)
    visited_refs: set[str] = set()
    pending: list[dict[str, Any]] = [root.__pydantic_core_schema__]  # type: ignore[list-item]
    while pending:
        node = pending.pop()
        kind = node.get("type")
        if "serialization" in node:
            raise _Fallback
        if kind == "definition-ref":
            ref = node["schema_ref"]
            if ref not in visited_refs:
                visited_refs.add(ref)
                if ref not in definitions:
                    raise _Fallback
                pending.append(definitions[ref])
            continue
        if kind in _LEAF_TYPES:
            if kind == "literal" and not all(
                v is None or type(v) in (str, int, bool) for v in node.get("expected", ())
            ):
                raise _Fallback
            continue
        if kind not in _WRAPPER_TYPES:
            raise _Fallback
        if kind == "model":
            model_cls = node["cls"]
            if node.get("root_model") or not _plain_config(node.get("config") or {}):
                raise _Fallback
            if model_cls not in plans:
                plans[model_cls] = _plan_fields(node["schema"], definitions)
        elif kind == "model-fields":
            if node.get("computed_fields") or node.get("extras_schema") or node.get("extras_keys_schema"):
                raise _Fallback
        elif kind == "model-field":
            if node.get("serialization_exclude_if") is not None:
                raise _Fallback
        elif kind == "dict" and "keys_schema" in node:
            if node["keys_schema"].get("type") not in ("str", "any"):
                raise _Fallback
        pending.extend(_children(node))
    return plans


def _plain_config(config: dict[str, Any]) -> bool:
    for key, value in config.items():
        if key.startswith("ser_") and _DEFAULT_SER_CONFIG.get(key) != value:
            return False
        if key == "polymorphic_serialization" and value:
            return False
    return True


def _plan_fields(fields_node: dict[str, Any], definitions: dict[str, dict[str, Any]]) -> list[_Field]:
    if fields_node.get("type") != "model-fields":
        raise _Fallback
    fields = []
    for name, field in fields_node["fields"].items():
        if field.get("serialize_by_alias") is False or not name.isidentifier():
            raise _Fallback
        schema = field["schema"]
        has_default = schema.get("type") == "default"
        fields.append(
            _Field(
                name=name,
                key=field.get("serialization_alias") or name,
                has_default=has_default,
                excluded=bool(field.get("serialization_exclude")),
                model=_declared_model(schema["schema"] if has_default else schema, definitions),
            )
        )
    return fields


def _declared_model(schema: dict[str, Any], definitions: dict[str, dict[str, Any]]) -> type | None:
    """The model class of a field declared as exactly one model (or that model or None)."""
    if schema.get("type") == "nullable":
        schema = schema["schema"]
    if schema.get("type") == "definition-ref":
        schema = definitions.get(schema["schema_ref"], {})
    if schema.get("type") == "model":
        model_cls: type = schema["cls"]
        return model_cls
    return None


def _children(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for key in (
        "schema",
        "items_schema",
        "keys_schema",
        "values_schema",
        "lax_schema",
        "strict_schema",
        "json_schema",
        "python_schema",
    ):
        child = node.get(key)
        if isinstance(child, dict):
            yield child
    for key in ("choices", "steps", "items_schema", "definitions"):
        child = node.get(key)
        if isinstance(child, list):
            for item in child:
                yield item[0] if isinstance(item, tuple) else item
        elif isinstance(child, dict) and key == "choices":
            yield from child.values()
    fields = node.get("fields")
    if isinstance(fields, dict):
        yield from fields.values()


def _collect_definitions(node: Any, into: dict[str, dict[str, Any]]) -> None:
    if isinstance(node, dict):
        if node.get("type") == "definitions":
            for definition in node["definitions"]:
                into[definition["ref"]] = definition
        for value in node.values():
            _collect_definitions(value, into)
    elif isinstance(node, list | tuple):
        for value in node:
            _collect_definitions(value, into)
