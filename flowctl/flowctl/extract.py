"""What a materialization sends for each combined document of a binding (flow-protocol §3.7):
the packed group-by key, the packed values of its selected fields, the document when the binding
selects one, and whether the document is a deletion.

Each field is extracted at its projection's pointer; a missing location takes the projection's
schema `default`, else null. `flow_published_at` (the `uuidPtr` projected as a date-time) is the
time inside the document's UUID; `_meta/flow_truncated` is false (flowctl truncates nothing)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import json_pointer
from .build_materialization import BuiltMaterializationBinding
from .combine import Combiner
from .errors import BuildError
from .gazette_uuid import published_at
from .keys import key_defaults
from .projections import TRUNCATED_PTR
from .reduce import Reducer
from .schema import Validator
from .tuple_pack import pack

Extractor = Callable[[dict[str, Any]], Any]


def _uuid_time(tokens: list[str]) -> Extractor:
    def extract(doc: dict[str, Any]) -> Any:
        value = json_pointer.query(doc, tokens)
        if not isinstance(value, str):
            return None
        try:
            return published_at(value)
        except ValueError:
            return None

    return extract


def extractor(projection: dict[str, Any], uuid_ptr: str) -> Extractor:
    ptr = projection.get("ptr", "")
    inference = projection.get("inference") or {}
    string = inference.get("string") or {}
    if ptr == uuid_ptr and string.get("format") == "date-time" and string.get("contentEncoding") == "uuid":
        return _uuid_time(json_pointer.split(ptr))
    if ptr == TRUNCATED_PTR:
        return lambda doc: False
    if not ptr:
        return lambda doc: doc
    tokens = json_pointer.split(ptr)
    default = inference.get("default")
    if len(tokens) == 1:
        name = tokens[0]
        return lambda doc: doc.get(name, default)
    return lambda doc: json_pointer.query(doc, tokens, default)


@dataclass
class BindingPlan:
    """One binding's extraction and combining machinery, compiled once per run."""

    index: int
    collection: str
    delta: bool
    send_doc: bool
    key_ptrs: list[str]
    reducer: Reducer
    validator: Validator
    uuid_tokens: list[str]
    _keys: list[Extractor]
    _values: list[Extractor]
    key_defaults: list[Any]

    def combiner(self) -> Combiner:
        return Combiner(self.collection, self.key_ptrs, self.reducer, self.validator, self.key_defaults)

    def key_packed(self, doc: dict[str, Any]) -> bytes:
        return pack([f(doc) for f in self._keys])

    def key_values(self, doc: dict[str, Any]) -> list[Any]:
        return [f(doc) for f in self._keys]

    def values_packed(self, doc: dict[str, Any]) -> bytes:
        return pack([f(doc) for f in self._values])

    def is_deletion(self, doc: dict[str, Any]) -> bool:
        return self.reducer.annotated and self.reducer.root_strategy(doc).get("delete") is True


def plan_binding(built: BuiltMaterializationBinding) -> BindingPlan:
    collection = built.spec["collection"]
    by_field = {p["field"]: p for p in collection["projections"]}
    uuid_ptr = collection.get("uuidPtr", "/_meta/uuid")
    selection = built.selection

    def extractors(fields: list[str]) -> list[Extractor]:
        missing = [f for f in fields if f not in by_field]
        if missing:
            raise BuildError(f"binding {built.index}: selected fields {missing} are not projections")
        return [extractor(by_field[f], uuid_ptr) for f in fields]

    c = built.collection
    schema = c.read_schema or c.write_schema
    key_ptrs = [by_field[f].get("ptr", "") for f in selection.keys]
    return BindingPlan(
        index=built.index,
        collection=c.name,
        delta=built.delta_updates,
        send_doc=bool(selection.document),
        key_ptrs=key_ptrs,
        reducer=Reducer(schema),
        validator=Validator(schema, f"{c.file}#{c.location}"),
        uuid_tokens=json_pointer.split(uuid_ptr),
        _keys=extractors(selection.keys),
        _values=extractors(selection.values),
        key_defaults=key_defaults(schema, key_ptrs),
    )
