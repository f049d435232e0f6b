"""Combining the documents of one transaction by collection key (what the runtime's combiner
does before publishing): one entry per key, reduced with the schema's annotations, drained in
key order and validated against the write schema."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from operator import itemgetter
from typing import Any

import orjson

from .catalog import resolve_pointer
from .errors import DocumentValidationError
from .json_order import sort_key
from .reduce import Reducer
from .schema import Validator

KeyFn = Callable[[dict[str, Any]], Any]


def _field_getter(pointer: str) -> KeyFn:
    tokens = [t.replace("~1", "/").replace("~0", "~") for t in pointer.lstrip("/").split("/")]
    if len(tokens) == 1:
        name = tokens[0]

        def top(doc: dict[str, Any]) -> Any:
            return doc.get(name)

        return top

    def nested(doc: dict[str, Any]) -> Any:
        try:
            return resolve_pointer(doc, pointer)
        except (KeyError, IndexError, ValueError, TypeError):
            return None

    return nested


def key_extractor(pointers: list[str]) -> KeyFn:
    """A function returning the (hashable) key of a document: the value itself for a single
    pointer, a tuple for a composite key. Missing locations extract as null."""
    getters = [_field_getter(p) for p in pointers]
    if len(getters) == 1:
        return getters[0]
    return lambda doc: tuple(g(doc) for g in getters)


def _hashable(key: Any) -> Any:
    """Stand-in for unhashable key values (objects/arrays): their canonical JSON."""
    if isinstance(key, tuple):
        return tuple(_hashable(k) for k in key)
    if isinstance(key, dict | list):
        return ("\x00json", orjson.dumps(key, option=orjson.OPT_SORT_KEYS))
    return key


def _unhashable(key: Any) -> Any:
    if isinstance(key, tuple):
        if len(key) == 2 and key[0] == "\x00json":
            return orjson.loads(key[1])
        return tuple(_unhashable(k) for k in key)
    return key


class Combiner:
    """Documents of one binding within one transaction, combined by key."""

    __slots__ = ("_validator", "collection", "docs", "key_fn", "key_pointers", "reducer")

    def __init__(
        self, collection: str, key_pointers: list[str], reducer: Reducer, validator: Validator
    ) -> None:
        self.collection = collection
        self.key_pointers = key_pointers
        self.key_fn = key_extractor(key_pointers)
        self.reducer = reducer
        self._validator = validator
        self.docs: dict[Any, dict[str, Any]] = {}

    def add(self, doc: dict[str, Any]) -> None:
        """Add one document (right-hand side of any prior document with its key)."""
        try:
            key = self.key_fn(doc)
            prior = self.docs.get(key)
        except TypeError:
            key = _hashable(self.key_fn(doc))
            prior = self.docs.get(key)
        if prior is None:
            self.docs[key] = doc
        else:
            self.docs[key] = self.reducer.reduce(prior, doc)

    def add_all(self, docs: list[dict[str, Any]]) -> None:
        """Add many documents; last-write-wins collections take a tight loop."""
        if not self.reducer.annotated:
            store = self.docs
            key_fn = self.key_fn
            try:
                for doc in docs:
                    store[key_fn(doc)] = doc
                return
            except TypeError:
                pass  # an unhashable key value: redo this batch the slow way (LWW is idempotent)
        for doc in docs:
            self.add(doc)

    def absorb(self, other: Combiner) -> None:
        """Fold `other` (later documents) into this combiner."""
        if not other.docs:
            return
        if not self.docs:
            self.docs = other.docs
        elif not self.reducer.annotated:
            self.docs.update(other.docs)
        else:
            for key, doc in other.docs.items():
                prior = self.docs.get(key)
                self.docs[key] = doc if prior is None else self.reducer.reduce(prior, doc)
        other.docs = {}

    def __len__(self) -> int:
        return len(self.docs)

    def drain(self) -> Iterator[dict[str, Any]]:
        """Combined documents in key order, each validated against the write schema."""
        docs = self.docs
        self.docs = {}
        try:
            items = sorted(docs.items(), key=itemgetter(0))
        except TypeError:
            composite = len(self.key_pointers) > 1
            items = sorted(
                docs.items(),
                key=lambda kv: (
                    tuple(sort_key(c) for c in _unhashable(kv[0]))
                    if composite
                    else sort_key(_unhashable(kv[0]))
                ),
            )
        is_valid = self._validator.is_valid
        for key, doc in items:
            if not is_valid(doc):
                self._fail(key, doc)
            yield doc

    def _fail(self, key: Any, doc: dict[str, Any]) -> None:
        error = self._validator.first_error(doc)
        location, schema_path, message = error if error else ("", "", "document is invalid")
        raw = _unhashable(key)
        values = list(raw) if len(self.key_pointers) > 1 else [raw]
        raise DocumentValidationError(self.collection, values, location, schema_path, message)
