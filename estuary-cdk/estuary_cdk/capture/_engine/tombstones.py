"""Snapshot tombstones: the deletion document emitted for each row a snapshot no longer has.

A tombstone is built by the connector long before it is used (the first time a row vanishes,
maybe weeks into a capture), so everything that can be wrong with it is checked when its
binding opens, with an error naming the binding: that it is a document, that it carries every
key field the runtime needs to find the row (all but the row id, which the engine sets), and
that its fields are valid for the binding's document model. A collection schema that would
refuse it (one discovered before deletions were exempt from the model's required fields) gets
a warning: the capture still works until a row disappears.
"""

from collections.abc import Mapping
from logging import Logger
from typing import Any

from pydantic import ValidationError

from ...flow import CaptureBinding
from ..document import BaseDocument
from .resources import ROW_ID_POINTER

__all__ = [
    "TombstoneError",
    "check_tombstone",
    "default_tombstone",
    "resolve_pointer",
    "tombstone_discriminator_values",
]

MISSING = object()


class TombstoneError(AssertionError):
    """A tombstone that cannot work. An AssertionError, as the reference kit's tombstone checks
    raise, so code expecting one still gets it."""


def default_tombstone() -> BaseDocument:
    """The tombstone of a snapshot binding that gives none: `_meta` only (op "d")."""
    return BaseDocument(_meta=BaseDocument.Meta(op="d"))


def resolve_pointer(doc: Any, pointer: str) -> Any:
    """The value at JSON `pointer` in `doc` (a serialized document), or `MISSING`."""
    node = doc
    for raw in pointer.split("/")[1:]:
        token = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return MISSING
    return node


def as_json(doc: Any) -> Any:
    """A document as the engine writes it (set fields only, by alias)."""
    if isinstance(doc, BaseDocument):
        return doc.model_dump(mode="json", by_alias=True, exclude_unset=True)
    return doc


def _binding_name(binding: CaptureBinding[Any], subtask_id: str | None) -> str:
    name = f"binding '{'.'.join(binding.resourceConfig.path())}' ({binding.collection.name})"
    return name if subtask_id is None else f"{name}, subtask {subtask_id!r}"


def check_tombstone(
    binding: CaptureBinding[Any],
    tombstone: Any,
    model: Any,
    log: Logger,
    subtask_id: str | None = None,
) -> None:
    """Raise `TombstoneError` if `tombstone` cannot serve `binding` (documents of `model`, when
    known: a `BaseDocument` class), and warn if the collection's schema would refuse it."""
    where = f"the snapshot tombstone of {_binding_name(binding, subtask_id)}"
    if not isinstance(tombstone, BaseDocument | dict):
        raise TombstoneError(f"{where} must be a document (a BaseDocument or a dict), got {tombstone!r}")

    doc = as_json(tombstone)
    key = list(binding.collection.key)
    missing = [p for p in key if p != ROW_ID_POINTER and resolve_pointer(doc, p) is MISSING]
    if missing:
        raise TombstoneError(
            f"{where} must set every collection key field other than {ROW_ID_POINTER}; missing "
            f"{missing} (e.g. Model(_meta=Model.Meta(op='d', ...)) with the key's values)"
        )

    if isinstance(model, type) and issubclass(model, BaseDocument):
        _check_against_model(where, tombstone, doc, model)
    _warn_if_the_schema_refuses(where, doc, binding.collection.writeSchema, log)


def _check_against_model(where: str, tombstone: Any, doc: dict[str, Any], model: type[BaseDocument]) -> None:
    kind = type(tombstone)
    if isinstance(tombstone, BaseDocument) and not (issubclass(kind, model) or issubclass(model, kind)):
        raise TombstoneError(
            f"{where} is a {kind.__name__}, but the binding's documents are {model.__name__}: build it "
            f"as {model.__name__}(_meta={model.__name__}.Meta(op='d')) plus the key's fields"
        )
    meta = doc.get("_meta")
    deletion = {**doc, "_meta": {**(meta if isinstance(meta, dict) else {}), "op": "d"}}
    try:
        model(**deletion)  # A deletion: only the fields it has are validated.
    except ValidationError as exc:
        # A deletion lacking required fields fails on its other errors only: name just those.
        problems = [e for e in exc.errors() if not (e["type"] == "missing" and len(e["loc"]) == 1)]
        described = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in problems)
        raise TombstoneError(f"{where} is not a valid {model.__name__} deletion: {described}") from None


def _warn_if_the_schema_refuses(where: str, doc: dict[str, Any], schema: Any, log: Logger) -> None:
    """Warn if the schema's top-level `required` names fields a deletion does not carry."""
    required = schema.get("required") if isinstance(schema, dict) else None
    if not isinstance(required, list):
        return
    lacking = [name for name in required if name != "_meta" and name not in doc]
    if lacking:
        log.warning(
            f"{where} carries only the key and _meta, but the collection's schema requires "
            f"{', '.join(lacking)} of every document, so the first row that disappears from the "
            "snapshot will fail it. Discover the binding again (`flowctl raw discover`): the kit's "
            "discovered schemas require a model's fields only of documents that are not deletions",
            {"lacking": lacking},
        )


def tombstone_discriminator_values(
    tombstones: Mapping[str, Any], key: list[str]
) -> dict[str, tuple[Any, ...]]:
    """The discriminator values (key fields other than the row id) of each subtask's tombstone;
    they must differ, or the subtasks' rows would collide in the collection."""
    values = {
        sub: tuple(resolve_pointer(as_json(t), p) for p in key if p != ROW_ID_POINTER)
        for sub, t in tombstones.items()
    }
    if len(set(values.values())) != len(values):
        raise TombstoneError(f"snapshot subtask tombstones must have distinct key values, got {values}")
    return values
