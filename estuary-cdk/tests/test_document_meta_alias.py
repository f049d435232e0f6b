"""`_meta` is populated by its alias only, as on the reference kit (issue 11, found by
bench/dropin_captures.py on source-front): a connector that re-validates `doc.model_dump()`
(whose key is the field name `meta_`) gets `meta_` as an undeclared field and a default `_meta`,
so its documents are the ones it emits in production, not a cleaned-up variant."""

from __future__ import annotations

import json

import pytest
from estuary_cdk.capture._model_json import model_json
from estuary_cdk.capture.common import BaseDocument
from estuary_cdk.capture.document import set_document_meta
from pydantic import ValidationError


class Event(BaseDocument):
    id: str
    emitted_at: float


def test_a_meta_underscore_key_stays_an_undeclared_field() -> None:
    again = Event.model_validate(Event(id="evt_1", emitted_at=1.5).model_dump())
    assert again.model_extra == {"meta_": {"op": "u", "row_id": -1}}
    set_document_meta(again, "u")  # as the engine does for an incremental document
    # What the reference kit emits for source-front's events (its _meta lacks row_id).
    assert json.loads(model_json(again)) == {
        "id": "evt_1",
        "emitted_at": 1.5,
        "meta_": {"op": "u", "row_id": -1},
        "_meta": {"op": "u"},
    }


def test_the_alias_still_populates_meta() -> None:
    doc = Event.model_validate({"id": "evt_2", "emitted_at": 2.0, "_meta": {"op": "c", "row_id": 3}})
    assert (doc.meta_.op, doc.meta_.row_id) == ("c", 3)
    assert doc.model_extra == {}


def test_a_meta_underscore_deletion_is_no_tombstone() -> None:
    # Only `_meta` makes a deletion that may lack required fields; `meta_` is data, as on the
    # reference, so the model's required fields are still required.
    assert Event(_meta=Event.Meta(op="d")).meta_.op == "d"
    with pytest.raises(ValidationError):
        Event(meta_=Event.Meta(op="d"))  # type: ignore[call-arg]
