"""Base class for captured documents and the `_meta` block every document may carry."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

__all__ = ["AssociatedDocument", "BaseDocument", "set_document_meta"]

MetaOp = Literal["c", "u", "d"]
_Doc = TypeVar("_Doc", bound="BaseDocument")


_new_object = object.__new__
_set_dict = object.__setattr__
_set_fields_set = BaseModel.__dict__["__pydantic_fields_set__"].__set__
_set_extra = BaseModel.__dict__["__pydantic_extra__"].__set__
_set_private = BaseModel.__dict__["__pydantic_private__"].__set__


def _default_meta() -> BaseDocument.Meta:  # Runs once BaseDocument exists.
    """`Meta(op="u")` without running the validator: the same instance state (fields, fields set,
    no extras, no private attributes) in a third of the time, as documents are built in hot loops."""
    meta = _new_object(BaseDocument.Meta)
    _set_dict(meta, "__dict__", {"op": "u", "row_id": -1})
    _set_fields_set(meta, {"op"})
    _set_extra(meta, None)
    _set_private(meta, None)
    return meta


class BaseDocument(BaseModel):
    # A captured document. Undeclared fields are kept (`extra="allow"`), so models only need to
    # declare what the connector reads, and `_meta` is emitted only when it was explicitly set.
    # `_meta` is populated by its alias only, as on the reference kit: input holding a `meta_`
    # key (a connector re-validating `doc.model_dump()`, as source-front does) keeps it as an
    # undeclared field and `_meta` gets its default, so such documents come out as they do in
    # production (bench/dropin_captures.md).
    # (A comment, not a docstring: pydantic would publish a docstring as the `description` of
    # every document schema built on this class, which the reference kit's schemas do not have.)

    model_config = ConfigDict(extra="allow")

    class Meta(BaseModel):
        op: Literal["c", "u", "d"] = Field(
            default="u",
            description="Operation type (c: Create, u: Update, d: Delete)",
        )
        row_id: int = Field(
            default=-1,
            description="Row ID of the Document, counting up from zero, or -1 if not known",
        )

        SOURCED_SCHEMA: ClassVar[dict[str, Any]] = {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "op": {"type": "string", "enum": ["c", "u", "d"], "minLength": 1, "maxLength": 1},
                "row_id": {"type": "integer", "minimum": 1, "maximum": 1},
                # The runtime, not the connector, adds `uuid` to every captured document.
                "uuid": {"type": "string", "minLength": 36, "maxLength": 36},
            },
            "required": ["uuid", "op", "row_id"],
        }

        @classmethod
        def sourced_schema(cls) -> dict[str, Any]:
            """The closed, tightly bounded `_meta` schema merged into every sourced schema."""
            import copy

            return copy.deepcopy(cls.SOURCED_SCHEMA)

    meta_: Meta = Field(
        # A fresh Meta per document (never a shared, mutable default). This runs for every
        # validated document, so it skips validating its own constant arguments.
        default_factory=_default_meta,
        alias="_meta",
        description="Document metadata",
    )

    def __init__(self, /, **data: Any) -> None:
        """Validate `data` into a document, as pydantic does, except for a deletion.

        A deletion (`_meta.op == "d"`) needs only the collection key: the runtime deletes by
        key, and a snapshot's tombstone cannot know the fields of the row that vanished. So
        `Project(_meta=Project.Meta(op="d"))` (the guide's tombstone) and
        `Project(id=7, _meta=...)` build documents with the given fields only, validated as
        usual, and no required field made up; they serialize as just those fields. A snapshot
        resource's discovered schema requires the other fields only of documents that are not
        deletions; any other resource's schema is the model's, as on the reference kit, so its
        deletions must carry the model's required fields (or the model makes them optional),
        or the collection refuses them with an error naming the field. A missing field of such
        a document is absent: reading it raises `AttributeError`.
        """
        try:
            self.__pydantic_validator__.validate_python(data, self_instance=self)
        except ValidationError as exc:
            if not (_is_deletion(data) and _only_missing_fields(exc)):
                raise
            _init_deletion(self, data, exc)

    # Tells pydantic this `__init__` validates exactly as `BaseModel.__init__` does, so model
    # validation elsewhere (`model_validate`, nested documents) keeps its fast path and never
    # calls it (pydantic's own `RootModel` does the same).
    __init__.__pydantic_base_init__ = True  # type: ignore[attr-defined]

    @classmethod
    def tombstone(cls: type[_Doc], **key: Any) -> _Doc:
        """A deletion document of this model: `_meta.op` "d" and only the given (key) fields.
        The same as the guide's `Model(_meta=Model.Meta(op="d"))`, but typed: a type checker
        does not ask for the model's required fields here."""
        return cls(_meta=cls.Meta(op="d"), **key)

    def with_meta(self, op: MetaOp = "u", row_id: int | None = None) -> BaseDocument:
        """Set (and mark as set, so it is emitted) this document's `_meta`; returns self."""
        meta = type(self).model_fields["meta_"].get_default(call_default_factory=True)
        if not isinstance(meta, BaseDocument.Meta):
            meta = BaseDocument.Meta()
        meta.op = op
        if row_id is not None:
            meta.row_id = row_id
        self.meta_ = meta
        return self


def _is_deletion(data: dict[str, Any]) -> bool:
    meta = data.get("_meta")  # By its alias only: a `meta_` key is an undeclared field.
    op = meta.get("op") if isinstance(meta, dict) else getattr(meta, "op", None)
    return op == "d"


def _only_missing_fields(exc: ValidationError) -> bool:
    return all(err["type"] == "missing" and len(err["loc"]) == 1 for err in exc.errors())


def _init_deletion(doc: BaseDocument, data: dict[str, Any], exc: ValidationError) -> None:
    """Make `doc` the deletion document of `data`: each given field validated as an assignment
    (aliases resolved), the missing required ones left out."""
    cls = type(doc)
    if cls.model_config.get("frozen"):
        raise exc  # Assignment validation refuses frozen models; so does a deletion without its fields.
    empty = cls.model_construct()
    # Every field present while assigning (the pydantic-core of pydantic 2.7 looks the others up
    # and panics on a missing one); the missing ones are taken out again afterwards.
    missing = [name for name in cls.model_fields if name not in empty.__dict__]
    _set_dict(doc, "__dict__", {**empty.__dict__, **dict.fromkeys(missing)})
    _set_fields_set(doc, set())
    _set_extra(doc, empty.__pydantic_extra__)
    _set_private(doc, empty.__pydantic_private__)
    names = {info.alias: name for name, info in cls.model_fields.items() if info.alias}
    given = set()
    for key, value in data.items():
        given.add(names.get(key, key))
        cls.__pydantic_validator__.validate_assignment(doc, names.get(key, key), value)
    for name in missing:
        if name not in given:
            doc.__dict__.pop(name, None)


def set_document_meta(doc: Any, op: MetaOp, row_id: int | None = None) -> Any:
    """Set `_meta.op` (and `row_id`) on a model *or* plain-dict document and return it.

    Dict documents get the key `_meta` (the reference kit wrote `meta_` for them, a quirk that
    produced a wrong field in the collection); model documents get their `meta_` field assigned,
    which serializes as `_meta`. Existing `_meta` members (e.g. a connector's `store`) are kept.
    The `_meta` is replaced, never changed in place: documents may share one `_meta` object.
    """
    if isinstance(doc, dict):
        current = doc.get("_meta")
        meta = {**current, "op": op} if isinstance(current, dict) else {"op": op}
        if row_id is not None:
            meta["row_id"] = row_id
        doc["_meta"] = meta
        return doc
    if isinstance(doc, BaseDocument):
        # Assigning marks `_meta` as set, so exclude_unset serialization includes it.
        update: dict[str, Any] = {"op": op} if row_id is None else {"op": op, "row_id": row_id}
        doc.meta_ = doc.meta_.model_copy(update=update)
        return doc
    raise TypeError(f"cannot set _meta on a document of type {type(doc).__name__}")


_D = TypeVar("_D")


@dataclass
class AssociatedDocument(Generic[_D]):
    """A document a fetch function emits into *another* binding (by binding index), e.g. child
    rows loaded together with their parent."""

    doc: _D
    binding: int
