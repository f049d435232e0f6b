"""Deletion documents of models with required fields: the guide's tombstone pattern
(`Project(_meta=Project.Meta(op="d"))`) builds, its document passes the discovered schema, and a
tombstone that cannot work fails when its binding opens, with an error naming the binding."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator
from datetime import timedelta
from typing import Any

import jsonschema
import pytest
from engine_fixtures.harness import T0, EngineClock, Harness, binding, docs
from estuary_cdk.capture import request
from estuary_cdk.capture._engine.tombstones import TombstoneError, check_tombstone
from estuary_cdk.capture.common import (
    BaseDocument,
    ConnectorState,
    ReductionStrategy,
    Resource,
    ResourceConfig,
    ResourceState,
    Task,
    discovered,
    open,
    open_binding,
    resolve_bindings,
)
from pydantic import Field, ValidationError

CS = ConnectorState[ResourceState]
ROW_KEY = ["/_meta/row_id"]


class Project(BaseDocument):
    id: int
    name: str
    owner: str | None = None


class Store(BaseDocument):
    class Meta(BaseDocument.Meta):
        store: str = ""

    meta_: Meta = Field(default_factory=Meta, alias="_meta")  # type: ignore[assignment]
    code: str


# -- the guide's pattern builds -----------------------------------------------------------------


def test_the_guides_tombstone_builds_for_a_model_with_required_fields() -> None:
    tombstone = Project(_meta=Project.Meta(op="d"))
    assert tombstone.model_dump(mode="json", by_alias=True, exclude_unset=True) == {"_meta": {"op": "d"}}
    keyed = Project(id="7", _meta={"op": "d"})  # given fields are validated (and coerced) as usual
    assert keyed.id == 7
    assert keyed.model_dump(mode="json", by_alias=True, exclude_unset=True) == {"_meta": {"op": "d"}, "id": 7}


def test_only_deletions_may_lack_required_fields() -> None:
    with pytest.raises(ValidationError, match="name"):
        Project(id=1)
    with pytest.raises(ValidationError, match="name"):
        Project(id=1, _meta=Project.Meta(op="u"))
    with pytest.raises(ValidationError, match="int_parsing"):
        Project(id="x", _meta=Project.Meta(op="d"))
    with pytest.raises(ValidationError, match="name"):
        Project.model_validate({"id": 1, "_meta": {"op": "d"}})  # the constructor only
    assert Project.__pydantic_custom_init__ is False  # model_validate keeps pydantic's fast path


# -- the discovered schema accepts deletions ------------------------------------------------------


def _schema(model: Any, key: list[str], **kwargs: Any) -> dict[str, Any]:
    resource = Resource(
        name="projects",
        key=key,
        model=model,
        open=lambda *a: None,
        initial_state=ResourceState(),
        initial_config=ResourceConfig(name="projects"),
        schema_inference=kwargs.pop("schema_inference", True),
        **kwargs,
    )
    return discovered([resource]).bindings[0].documentSchema


@pytest.mark.parametrize("inference", [True, False])
@pytest.mark.parametrize("strategy", [None, ReductionStrategy.MERGE])
def test_a_snapshot_schema_requires_fields_only_of_documents_that_are_not_deletions(
    inference: bool, strategy: ReductionStrategy | None
) -> None:
    schema = _schema(Project, ROW_KEY, schema_inference=inference, reduction_strategy=strategy)
    validator = jsonschema.Draft202012Validator(schema)
    assert "required" not in schema  # no key field of the model's: the row id is the engine's
    assert validator.is_valid({"id": 1, "name": "a", "_meta": {"row_id": 0}})
    assert validator.is_valid({"_meta": {"op": "d", "row_id": 3}})
    assert not validator.is_valid({"id": 1, "_meta": {"row_id": 0}})
    assert not validator.is_valid({"id": 1, "_meta": {"op": "u", "row_id": 0}})
    if inference and strategy is not None:
        assert schema["else"] == {"reduce": {"strategy": "merge"}, "required": ["id", "name"]}


@pytest.mark.parametrize("inference", [True, False])
@pytest.mark.parametrize("strategy", [None, ReductionStrategy.MERGE])
def test_a_keyed_resources_schema_is_the_models_as_the_reference_discovers_it(
    inference: bool, strategy: ReductionStrategy | None
) -> None:
    """Byte-identical discover output for connectors moved from the reference kit (issue 11):
    every required field of the model stays required at the top, of deletions too."""
    schema = _schema(Project, ["/id"], schema_inference=inference, reduction_strategy=strategy)
    model = Project.model_json_schema(mode="serialization")
    assert schema["required"] == model["required"] == ["id", "name"]
    assert {
        k: v for k, v in schema.items() if k not in ("x-infer-schema", "if", "then", "else", "reduce")
    } == model
    assert "required" not in schema.get("else", {})
    validator = jsonschema.Draft202012Validator(schema)
    assert validator.is_valid({"id": 1, "name": "a"})
    assert not validator.is_valid({"id": 1, "_meta": {"op": "d"}})


def test_a_snapshot_models_tombstone_passes_its_discovered_schema() -> None:
    schema = _schema(Project, ROW_KEY)
    assert "required" not in schema and schema["else"] == {"required": ["id", "name"]}
    jsonschema.validate({"_meta": {"op": "d", "row_id": 3}}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"_meta": {"op": "u", "row_id": 3}}, schema)


def test_schemas_without_other_required_fields_and_fixed_schemas_are_unchanged() -> None:
    class Keyed(BaseDocument):
        id: int
        name: str | None = None

    assert "else" not in _schema(Keyed, ["/id"]) and _schema(Keyed, ["/id"])["required"] == ["id"]
    assert "if" not in _schema(Keyed, ["/id"], schema_inference=False)
    fixed = {"type": "object", "required": ["id", "name"]}
    assert _schema(Resource.FixedSchema(fixed), ["/id"], schema_inference=False) == fixed


# -- through common.open: the snapshot deletes with the guide's tombstone ---------------------------


def _rows(passes: list[list[Project]]) -> Any:
    count = [0]

    async def fetch(log: Any) -> AsyncGenerator[Any, None]:
        rows = passes[min(count[0], len(passes) - 1)]
        count[0] += 1
        for row in rows:
            yield row.model_copy()

    return fetch


def _snapshot_resource(model: Any, tombstone: Any, fetch: Any) -> Resource[Any, Any, Any]:
    def open_(b: Any, index: int, state: Any, task: Task, all_bindings: Any) -> None:
        open_binding(b, index, state, task, fetch_snapshot=fetch, tombstone=tombstone)

    return Resource(
        name="projects",
        key=ROW_KEY,
        model=model,
        open=open_,
        initial_state=ResourceState(),
        initial_config=ResourceConfig(name="projects", interval=timedelta(hours=1)),
        schema_inference=True,
    )


def _open_request(write_schema: dict[str, Any] | None = None) -> Any:
    wire = {
        "collection": {"name": "acmeCo/projects", "key": ROW_KEY, "writeSchema": write_schema or {}},
        "resourceConfig": {"name": "projects", "interval": "PT1H"},
        "resourcePath": ["projects"],
        "stateKey": "projects",
    }
    return request.Open[dict[str, Any], ResourceConfig, CS].model_validate(
        {"capture": {"name": "acmeCo/test", "config": {}, "bindings": [wire]}, "state": {}}
    )


async def _run(
    resource: Resource[Any, Any, Any], passes: int, write_schema: dict[str, Any] | None = None
) -> Harness:
    req = _open_request(write_schema)
    _, runner = open(req, resolve_bindings(req.capture.bindings, [resource]))
    h = Harness(clock=EngineClock(start=T0, max_waits=passes))
    await h.run(runner)
    return h


async def test_the_guides_snapshot_pattern_deletes_vanished_rows() -> None:
    a, b = Project(id=1, name="a"), Project(id=2, name="b")
    resource = _snapshot_resource(Project, Project(_meta=Project.Meta(op="d")), _rows([[a, b], [a]]))
    h = await _run(resource, passes=2)
    deletion = docs(h.lines())[-1]
    assert deletion == {"_meta": {"op": "d", "row_id": 1}}
    jsonschema.validate(deletion, _schema(Project, ROW_KEY))


# -- a tombstone that cannot work fails at open, naming the binding ---------------------------------


async def _open_error(resource: Resource[Any, Any, Any]) -> BaseException:
    with pytest.raises(ExceptionGroup) as info:
        await _run(resource, passes=1)
    (error,) = info.value.exceptions
    return error


async def test_a_tombstone_of_another_model_fails_at_open() -> None:
    error = await _open_error(_snapshot_resource(Project, Store(_meta=Store.Meta(op="d")), _rows([[]])))
    assert isinstance(error, TombstoneError)
    assert str(error) == (
        "the snapshot tombstone of binding 'projects' (acmeCo/projects) is a Store, but the binding's "
        "documents are Project: build it as Project(_meta=Project.Meta(op='d')) plus the key's fields"
    )


async def test_a_tombstone_with_an_invalid_field_fails_at_open() -> None:
    error = await _open_error(_snapshot_resource(Project, {"id": "seven"}, _rows([[]])))
    assert str(error) == (
        "the snapshot tombstone of binding 'projects' (acmeCo/projects) is not a valid Project deletion: "
        "id: Input should be a valid integer, unable to parse string as an integer"
    )


def test_a_tombstone_must_be_a_document() -> None:
    with pytest.raises(TombstoneError, match=r"binding 'items' \(acmeCo/items\) must be a document"):
        check_tombstone(binding(key=ROW_KEY), "d", Project, logging.getLogger("flow.test"))


def test_subtask_tombstones_are_checked_against_the_model_too() -> None:
    log = logging.getLogger("flow.test")
    key = ["/_meta/row_id", "/_meta/store"]
    check_tombstone(binding(key=key), Store(_meta=Store.Meta(op="d", store="s1")), Store, log, "s1")
    with pytest.raises(TombstoneError, match=r"subtask 's2'.*_meta\.store: Input should be a valid string"):
        check_tombstone(binding(key=key), {"_meta": {"store": 2}}, Store, log, "s2")


async def test_a_collection_schema_that_would_refuse_the_tombstone_is_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A catalog discovered before deletions were exempt from the model's required fields.
    old_schema = {"type": "object", "required": ["id", "name"], "properties": {}}
    resource = _snapshot_resource(Project, None, _rows([[Project(id=1, name="a")]]))
    h = await _run(resource, passes=1, write_schema=old_schema)
    assert h.stopping.first_error is None and len(docs(h.lines())) == 1
    (warning,) = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warning.startswith(
        "the snapshot tombstone of binding 'projects' (acmeCo/projects) carries only the key and _meta, "
        "but the collection's schema requires id, name of every document"
    )
    caplog.clear()
    await _run(resource, passes=1, write_schema=_schema(Project, ROW_KEY))
    assert [r for r in caplog.records if r.levelname == "WARNING"] == []


def test_tombstone_classmethod_builds_the_typed_deletion() -> None:
    from estuary_cdk.capture.common import BaseDocument

    class Project(BaseDocument):
        id: int
        name: str

    gone = Project.tombstone(id=7)
    assert isinstance(gone, Project)
    assert gone.meta_.op == "d"
    assert gone.model_dump(by_alias=True, exclude_unset=True) == {"id": 7, "_meta": {"op": "d"}}
