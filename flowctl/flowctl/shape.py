"""Static inference over a collection's JSON schema: what every location of its documents can
hold (types, existence, string and numeric annotations). The build derives projections and
their `inference` from it (flow-protocol §4.1), which materialization connectors use to pick
column types and constraints.

A `Shape` is a summary of the schema at one location. `type`, `const` and `enum` narrow its
types; `$ref` and `allOf` intersect; `anyOf`/`oneOf` and an `if` with both `then` and `else`
contribute the union of their branches (intersected with the rest). Recursive references stop
at the first repetition (the location is then "anything")."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from . import json_pointer

ARRAY, BOOLEAN, INTEGER, FRACTIONAL, NULL, OBJECT, STRING = (
    "array",
    "boolean",
    "integer",
    "fractional",
    "null",
    "object",
    "string",
)
ANY_TYPES = frozenset({ARRAY, BOOLEAN, INTEGER, FRACTIONAL, NULL, OBJECT, STRING})
_NAMED = {
    "array": {ARRAY},
    "boolean": {BOOLEAN},
    "integer": {INTEGER},
    "number": {INTEGER, FRACTIONAL},
    "null": {NULL},
    "object": {OBJECT},
    "string": {STRING},
}
_UNSET: Any = object()  # "no default" (null is a valid default)


@dataclass
class Prop:
    shape: Shape
    required: bool


@dataclass
class Shape:
    types: frozenset[str] = ANY_TYPES
    properties: dict[str, Prop] = field(default_factory=dict)
    additional: Shape | None = None  # additionalProperties (or a patternProperties stand-in)
    title: str | None = None
    description: str | None = None
    default: Any = _UNSET
    format: str | None = None
    content_encoding: str | None = None
    content_type: str | None = None
    max_length: int | None = None
    minimum: float | None = None
    maximum: float | None = None

    @property
    def invalid(self) -> bool:
        return not self.types

    def type_names(self) -> list[str]:
        """Types as Flow lists them: `number` for integer + fractional, names in order."""
        names = {t for t in self.types if t not in (INTEGER, FRACTIONAL)}
        if FRACTIONAL in self.types:
            names.add("number")
        elif INTEGER in self.types:
            names.add("integer")
        return sorted(names)


INVALID = Shape(types=frozenset())


def _types_of_value(value: Any) -> set[str]:
    if value is None:
        return {NULL}
    if isinstance(value, bool):
        return {BOOLEAN}
    if isinstance(value, int):
        return {INTEGER}
    if isinstance(value, float):
        return {INTEGER} if value.is_integer() else {FRACTIONAL}
    if isinstance(value, str):
        return {STRING}
    if isinstance(value, list):
        return {ARRAY}
    return {OBJECT}


def _first(a: Any, b: Any) -> Any:
    return a if a is not None else b


def _pick(a: float | None, b: float | None, fn: Any) -> float | None:
    return fn(a, b) if a is not None and b is not None else _first(a, b)


def intersect(a: Shape, b: Shape) -> Shape:
    """Values valid for both shapes."""
    props = dict(a.properties)
    for name, pb in b.properties.items():
        pa = props.get(name)
        if pa is None:
            other = a.additional
            props[name] = Prop(intersect(other, pb.shape) if other else pb.shape, pb.required)
        else:
            props[name] = Prop(intersect(pa.shape, pb.shape), pa.required or pb.required)
    for name, pa in a.properties.items():
        if name not in b.properties and b.additional is not None:
            props[name] = Prop(intersect(pa.shape, b.additional), pa.required)
    additional = (
        intersect(a.additional, b.additional)
        if a.additional and b.additional
        else a.additional or b.additional
    )
    return Shape(
        types=a.types & b.types,
        properties=props,
        additional=additional,
        title=_first(a.title, b.title),
        description=_first(a.description, b.description),
        default=a.default if a.default is not _UNSET else b.default,
        format=_first(a.format, b.format),
        content_encoding=_first(a.content_encoding, b.content_encoding),
        content_type=_first(a.content_type, b.content_type),
        max_length=_pick(a.max_length, b.max_length, min),  # type: ignore[arg-type]
        minimum=_pick(a.minimum, b.minimum, max),
        maximum=_pick(a.maximum, b.maximum, min),
    )


def _same(a: Any, b: Any) -> Any:
    return a if a == b else None


def union(a: Shape, b: Shape) -> Shape:
    """Values valid for either shape. Where only one side can be an object (or a string, or a
    number), that side's annotations for it are kept whole."""
    if a.invalid:
        return b
    if b.invalid:
        return a
    if OBJECT not in a.types or OBJECT not in b.types:
        source = a if OBJECT in a.types else b
        props, additional = dict(source.properties), source.additional
        if OBJECT not in a.types and OBJECT not in b.types:
            props, additional = {}, None
    else:
        props = {}
        for name in {**a.properties, **b.properties}:
            pa, pb = a.properties.get(name), b.properties.get(name)
            sa = pa.shape if pa else a.additional or Shape()
            sb = pb.shape if pb else b.additional or Shape()
            props[name] = Prop(union(sa, sb), bool(pa and pb and pa.required and pb.required))
        additional = union(a.additional, b.additional) if a.additional and b.additional else None
    s_src = a if STRING not in b.types else b if STRING not in a.types else None
    n_src = (
        a if not (b.types & {INTEGER, FRACTIONAL}) else b if not (a.types & {INTEGER, FRACTIONAL}) else None
    )
    return Shape(
        types=a.types | b.types,
        properties=props,
        additional=additional,
        title=_same(a.title, b.title),
        description=_same(a.description, b.description),
        default=a.default if a.default == b.default else _UNSET,
        format=s_src.format if s_src else _same(a.format, b.format),
        content_encoding=s_src.content_encoding if s_src else _same(a.content_encoding, b.content_encoding),
        content_type=s_src.content_type if s_src else _same(a.content_type, b.content_type),
        max_length=s_src.max_length
        if s_src
        else (
            max(a.max_length, b.max_length) if a.max_length is not None and b.max_length is not None else None
        ),
        minimum=n_src.minimum
        if n_src
        else (min(a.minimum, b.minimum) if a.minimum is not None and b.minimum is not None else None),
        maximum=n_src.maximum
        if n_src
        else (max(a.maximum, b.maximum) if a.maximum is not None and b.maximum is not None else None),
    )


class _Builder:
    """Builds shapes of one (bundled) schema, resolving `$ref`s against its resources."""

    def __init__(self, root: Any) -> None:
        self.root = root
        self._active: set[int] = set()  # schemas being expanded through a $ref (cycle guard)
        self._anchors: dict[str, Any] = {}  # `$anchor` names (`$ref: "#name"`)
        self._index_anchors(root)

    def _index_anchors(self, node: Any) -> None:
        if isinstance(node, dict):
            anchor = node.get("$anchor")
            if isinstance(anchor, str):
                self._anchors.setdefault(anchor, node)
            for key, value in node.items():
                if key not in ("const", "enum", "default", "examples"):
                    self._index_anchors(value)
        elif isinstance(node, list):
            for value in node:
                self._index_anchors(value)

    def build(self, node: Any, base: Any) -> Shape:
        if node is False:
            return INVALID
        if not isinstance(node, dict):
            return Shape()
        if isinstance(node.get("$id"), str) and node is not self.root:
            base = node
        shape = Shape(types=self._types(node))
        self._annotate(shape, node)
        shape.properties = self._properties(node, base)
        additional = node.get("additionalProperties")
        if additional is not None:
            shape.additional = self.build(additional, base)
        elif isinstance(node.get("patternProperties"), dict) and node["patternProperties"]:
            # Any name may match a pattern: its location takes any of their shapes.
            shapes = [self.build(s, base) for s in node["patternProperties"].values()]
            merged = shapes[0]
            for s in shapes[1:]:
                merged = union(merged, s)
            shape.additional = union(merged, Shape())
        ref = node.get("$ref")
        if isinstance(ref, str) and not ref.startswith("flow://"):
            shape = intersect(shape, self._ref(ref, base))
        for sub in node.get("allOf") or ():
            shape = intersect(shape, self.build(sub, base))
        for keyword in ("anyOf", "oneOf"):
            branches = node.get(keyword)
            if isinstance(branches, list) and branches:
                alt = INVALID
                for sub in branches:
                    alt = union(alt, self.build(sub, base))
                shape = intersect(shape, alt)
        if "if" in node and "then" in node and "else" in node:
            shape = intersect(shape, union(self.build(node["then"], base), self.build(node["else"], base)))
        return shape

    @staticmethod
    def _types(node: dict[str, Any]) -> frozenset[str]:
        types: set[str] = set(ANY_TYPES)
        declared = node.get("type")
        if isinstance(declared, str):
            declared = [declared]
        if isinstance(declared, list):
            types = set().union(*(_NAMED.get(str(t), set()) for t in declared))
        if "const" in node:
            types &= _types_of_value(node["const"])
        if isinstance(node.get("enum"), list):
            types &= set().union(*(_types_of_value(v) for v in node["enum"]))
        return frozenset(types)

    @staticmethod
    def _annotate(shape: Shape, node: dict[str, Any]) -> None:
        for key, attr in (("title", "title"), ("description", "description"), ("format", "format")):
            if isinstance(node.get(key), str):
                setattr(shape, attr, node[key])
        if isinstance(node.get("contentEncoding"), str):
            shape.content_encoding = node["contentEncoding"]
        if isinstance(node.get("contentMediaType"), str):
            shape.content_type = node["contentMediaType"]
        if isinstance(node.get("maxLength"), int):
            shape.max_length = node["maxLength"]
        if "default" in node:
            shape.default = node["default"]
        for key, attr, pick in (
            ("minimum", "minimum", max),
            ("exclusiveMinimum", "minimum", max),
            ("maximum", "maximum", min),
            ("exclusiveMaximum", "maximum", min),
        ):
            value = node.get(key)
            if isinstance(value, int | float) and not isinstance(value, bool):
                current = getattr(shape, attr)
                setattr(shape, attr, value if current is None else pick(current, value))

    def _properties(self, node: dict[str, Any], base: Any) -> dict[str, Prop]:
        required = {r for r in node.get("required") or () if isinstance(r, str)}
        props: dict[str, Prop] = {}
        declared = node.get("properties")
        if isinstance(declared, dict):
            for name, sub in declared.items():
                props[str(name)] = Prop(self.build(sub, base), name in required)
        for name in sorted(required - props.keys()):
            props[name] = Prop(Shape(), True)  # required without a schema: anything, but present
        return props

    def _ref(self, ref: str, base: Any) -> Shape:
        target, _, fragment = ref.partition("#")
        resource = base
        if target:
            defs = self.root.get("$defs") if isinstance(self.root, dict) else None
            resource = defs.get(target) if isinstance(defs, dict) else None
            if resource is None:
                return Shape()  # unresolvable here: the validator reports it
        if fragment and not fragment.startswith("/"):
            node = self._anchors.get(unquote(fragment))
            if node is None:
                return Shape()
        else:
            try:
                node = json_pointer.resolve(resource, unquote(fragment))
            except (KeyError, IndexError, ValueError):
                return Shape()
        if id(node) in self._active:
            return Shape()  # recursive schema: stop expanding
        self._active.add(id(node))
        try:
            return self.build(node, resource)
        finally:
            self._active.discard(id(node))


def shape_of(schema: Any) -> Shape:
    """The shape of a whole (bundled) schema."""
    return _Builder(schema).build(schema, schema)


MUST, MAY, IMPLICIT, CANNOT = "MUST", "MAY", "IMPLICIT", "CANNOT"
_WEAKNESS = {MUST: 0, MAY: 1, IMPLICIT: 2, CANNOT: 3}


def _extend(parent: str, child: str) -> str:
    return parent if _WEAKNESS[parent] >= _WEAKNESS[child] else child


def _child(shape: Shape, name: str) -> tuple[Shape, str]:
    if OBJECT not in shape.types:
        return Shape(), CANNOT
    prop = shape.properties.get(name)
    if prop is not None:
        return prop.shape, MUST if prop.required and shape.types == {OBJECT} else MAY
    if shape.additional is not None:
        return shape.additional, MAY
    return Shape(), IMPLICIT


def locate(shape: Shape, pointer: str) -> tuple[Shape, str]:
    """The shape at `pointer` and whether the location must, may or cannot exist. Locations
    inside arrays are not tracked: they are "anything" that may exist."""
    exists = MUST
    for token in json_pointer.split(pointer):
        if OBJECT not in shape.types and ARRAY in shape.types:
            shape, step = Shape(), IMPLICIT
        else:
            shape, step = _child(shape, token)
        exists = _extend(exists, step)
    return shape, CANNOT if shape.invalid else exists


def locations(shape: Shape) -> Iterator[tuple[str, Shape, str]]:
    """(pointer, shape, exists) of every named property location at any depth, parents before
    children; not into array items, pattern or additional properties, nor empty names."""

    def walk(s: Shape, at: str, exists: str) -> Iterator[tuple[str, Shape, str]]:
        for name, prop in s.properties.items():
            if not name:
                continue
            step = MUST if prop.required and s.types == {OBJECT} else MAY
            child_exists = CANNOT if prop.shape.invalid else _extend(exists, step)
            pointer = at + "/" + json_pointer.escape(name)
            yield pointer, prop.shape, child_exists
            yield from walk(prop.shape, pointer, child_exists)

    yield from walk(shape, "", MUST)


def inference(shape: Shape, exists: str) -> dict[str, Any]:
    """The protocol's `Inference` (flow-protocol §4.1), proto3-JSON: defaults omitted."""
    out: dict[str, Any] = {"types": shape.type_names()}
    if STRING in shape.types:
        string: dict[str, Any] = {}
        for key, value in (
            ("contentType", shape.content_type),
            ("format", shape.format),
            ("contentEncoding", shape.content_encoding),
            ("maxLength", shape.max_length),
        ):
            if value:
                string[key] = value
        out["string"] = string
    if shape.title:
        out["title"] = shape.title
    if shape.description:
        out["description"] = shape.description
    if shape.default is not _UNSET:
        out["default"] = shape.default
    out["exists"] = exists
    if shape.types & {INTEGER, FRACTIONAL}:
        numeric: dict[str, Any] = {}
        if shape.minimum is not None:
            numeric.update(hasMinimum=True, minimum=shape.minimum)
        if shape.maximum is not None:
            numeric.update(hasMaximum=True, maximum=shape.maximum)
        out["numeric"] = numeric
    return out


def has_default(shape: Shape) -> bool:
    return shape.default is not _UNSET
