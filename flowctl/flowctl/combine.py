"""Combining the documents of one transaction by collection key (what the runtime's combiner
does before publishing): one entry per key, reduced with the schema's annotations, drained in
key order and validated against the write schema."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from operator import itemgetter
from typing import Any

from . import json_pointer
from .errors import DocumentKeyError, DocumentValidationError
from .json_order import typed_key, typed_sort_key, untyped
from .keys import ABSENT
from .reduce import Reducer
from .schema import Validator

KeyFn = Callable[[dict[str, Any]], Any]
_PLAIN = frozenset({str, int, float, type(None)})


class _MissingKey(Exception):
    """Raised by a key extractor for a document without the location (and no default)."""

    def __init__(self, pointer: str) -> None:
        super().__init__(pointer)
        self.pointer = pointer


def _field_getter(pointer: str, default: Any = ABSENT) -> KeyFn:
    """A function returning the typed key component (`typed_key`) at `pointer`, or `default`
    when the document lacks it (no default: `_MissingKey`); strings, numbers and null, the
    common keys, skip the conversion call."""
    tokens = json_pointer.split(pointer)

    def convert(value: Any) -> Any:
        if value is ABSENT:
            raise _MissingKey(pointer)
        return typed_key(value)

    if len(tokens) == 1:
        name = tokens[0]
        plain = _PLAIN

        def top(doc: dict[str, Any]) -> Any:
            value = doc.get(name, default)
            return value if value.__class__ in plain else convert(value)

        return top

    def nested(doc: dict[str, Any]) -> Any:
        return convert(json_pointer.query(doc, tokens, default))

    return nested


def key_extractor(pointers: list[str], defaults: list[Any] | None = None) -> KeyFn:
    """A function returning the hashable key of a document, equal for two documents exactly when
    Flow's keys are (`json_order.typed_key`): the typed value itself for a single pointer, a
    tuple of them for a composite key. A missing location takes its `defaults` entry; without
    one (ABSENT, the default) the extractor raises `_MissingKey`."""
    getters = [
        _field_getter(p, d) for p, d in zip(pointers, defaults or [ABSENT] * len(pointers), strict=True)
    ]
    if len(getters) == 1:
        return getters[0]
    return lambda doc: tuple(g(doc) for g in getters)


class Combiner:
    """Documents of one binding within one transaction, combined by key."""

    __slots__ = ("_validator", "collection", "docs", "key_fn", "key_pointers", "reducer")

    def __init__(
        self,
        collection: str,
        key_pointers: list[str],
        reducer: Reducer,
        validator: Validator,
        key_defaults: list[Any] | None = None,
    ) -> None:
        self.collection = collection
        self.key_pointers = key_pointers
        self.key_fn = key_extractor(key_pointers, key_defaults)
        self.reducer = reducer
        self._validator = validator
        self.docs: dict[Any, dict[str, Any]] = {}

    def add(self, doc: dict[str, Any]) -> None:
        """Add one document (right-hand side of any prior document with its key)."""
        try:
            self._add(doc)
        except _MissingKey as missing:
            raise DocumentKeyError(self.collection, missing.pointer, "a document", doc) from None

    def add_all(self, docs: list[dict[str, Any]]) -> None:
        """Add many documents; last-write-wins collections take a tight loop."""
        try:
            if not self.reducer.annotated:
                store = self.docs
                key_fn = self.key_fn
                for doc in docs:
                    store[key_fn(doc)] = doc
                return
            add = self._add
            for doc in docs:
                add(doc)
        except _MissingKey as missing:
            index = self._first_keyless(docs)
            raise DocumentKeyError(
                self.collection, missing.pointer, f"document {index + 1} of {len(docs)}", docs[index], index
            ) from None

    def _add(self, doc: dict[str, Any]) -> None:
        key = self.key_fn(doc)
        prior = self.docs.get(key)
        self.docs[key] = doc if prior is None else self.reducer.reduce(prior, doc)

    def _first_keyless(self, docs: list[dict[str, Any]]) -> int:
        """Index of the first document without its key (the slow path of an error)."""
        for index, doc in enumerate(docs):
            try:
                self.key_fn(doc)
            except _MissingKey:
                return index
        return 0

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
            # Typed keys of one shape (all strings, all numbers, ...) compare in Flow's order.
            items = sorted(docs.items(), key=itemgetter(0))
        except TypeError:  # keys of mixed JSON types: Python cannot compare them directly
            if len(self.key_pointers) > 1:
                items = sorted(docs.items(), key=lambda kv: tuple(typed_sort_key(c) for c in kv[0]))
            else:
                items = sorted(docs.items(), key=lambda kv: typed_sort_key(kv[0]))
        is_valid = self._validator.is_valid
        for key, doc in items:
            if not is_valid(doc):
                self._fail(key, doc)
            yield doc

    def _fail(self, key: Any, doc: dict[str, Any]) -> None:
        error = self._validator.first_error(doc)
        location, schema_path, message = error if error else ("", "", "document is invalid")
        parts = list(key) if len(self.key_pointers) > 1 else [key]
        values = [untyped(p) for p in parts]
        raise DocumentValidationError(self.collection, values, location, schema_path, message)
