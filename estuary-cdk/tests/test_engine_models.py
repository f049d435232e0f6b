import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pydantic
import pytest
from engine_fixtures.harness import binding
from estuary_cdk.capture import request
from estuary_cdk.capture.common import (
    CURSOR_MARKER,
    BaseDocument,
    ConnectorState,
    ReductionStrategy,
    Resource,
    ResourceConfig,
    ResourceConfigWithSchedule,
    ResourceState,
    SnapshotResource,
    ValidationError,
    discovered,
    is_cursor_dict,
    make_cursor_dict,
    pop_cursor_marker,
    resolve_bindings,
    validated,
)

CS = ConnectorState[ResourceState]


class Item(BaseDocument):
    id: int


@pytest.mark.skipif(
    tuple(int(p) for p in pydantic.VERSION.split(".")[:2]) < (2, 10),
    reason="recorded from the reference under pydantic 2.14; pydantic 2.7 writes dict and Literal "
    "fields' schemas differently (so does the reference kit under it)",
)
def test_resource_config_schema_matches_the_reference() -> None:
    assert ResourceConfig.model_json_schema() == {
        "additionalProperties": False,
        "description": "ResourceConfig is a common resource configuration shape.",
        "properties": {
            "_meta": {
                "anyOf": [{"additionalProperties": True, "type": "object"}, {"type": "null"}],
                "default": None,
                "title": "Meta",
            },
            "name": {"description": "Name of this resource", "title": "Name", "type": "string"},
            "interval": {
                "default": "PT0S",
                "description": "Interval between updates for this resource",
                "format": "duration",
                "nonsensitive": True,
                "title": "Interval",
                "type": "string",
            },
        },
        "required": ["name"],
        "title": "ResourceConfig",
        "type": "object",
    }


def test_resource_config_accepts_runtime_meta_and_durations() -> None:
    rc = ResourceConfig.model_validate({"name": "a", "interval": "PT5M", "_meta": {"path": ["a"]}})
    assert rc.interval == timedelta(minutes=5)
    assert rc.path() == ["a"]
    assert rc.meta_ == {"path": ["a"]}
    with pytest.raises(pydantic.ValidationError):
        ResourceConfig.model_validate({"name": "a", "unknown": 1})
    # Only explicitly set fields are emitted (discovered resourceConfig).
    assert ResourceConfig(name="a").model_dump_json(by_alias=True, exclude_unset=True) == '{"name":"a"}'


def test_schedule_must_be_cron() -> None:
    assert ResourceConfigWithSchedule(name="a", schedule="55 23 * * *").schedule == "55 23 * * *"
    assert ResourceConfigWithSchedule(name="a").schedule == ""
    with pytest.raises(pydantic.ValidationError):
        ResourceConfigWithSchedule(name="a", schedule="every day")


def test_state_parses_each_cursor_kind() -> None:
    state = CS.model_validate_json(
        json.dumps(
            {
                "bindingStateV1": {
                    "dt": {"inc": {"cursor": "2025-01-01T00:00:00Z"}},
                    "int": {"inc": {"cursor": 5}, "backfill": {"cutoff": 5, "next_page": {"a": 1}}},
                    "tuple": {"inc": {"cursor": ["abc"]}},
                    "subtasks": {"inc": {"x": {"cursor": 1}, "y": None}, "snapshot": {"s": None}},
                    "gone": None,
                },
                "backfillRequests": {"dt": True},
            }
        )
    )
    b = state.bindingStateV1
    assert b["dt"].inc.cursor == datetime(2025, 1, 1, tzinfo=UTC)  # type: ignore[union-attr]
    assert b["int"].inc.cursor == 5  # type: ignore[union-attr]
    assert b["int"].backfill.next_page == {"a": 1}  # type: ignore[union-attr]
    assert b["tuple"].inc.cursor == ("abc",)  # type: ignore[union-attr]
    assert b["subtasks"].inc["x"].cursor == 1  # type: ignore[union-attr,index]
    assert b["gone"] is None
    with pytest.raises(pydantic.ValidationError):
        CS.model_validate({"bindingStateV1": {"a": {"unknown": 1}}})


def test_partial_states_serialize_only_what_was_set() -> None:
    state = ConnectorState(
        bindingStateV1={"a": ResourceState(backfill=None), "b": None}, backfillRequests={"c": None}
    )
    assert state.model_dump_json(by_alias=True, exclude_unset=True) == (
        '{"bindingStateV1":{"a":{"backfill":null},"b":null},"backfillRequests":{"c":null}}'
    )
    assert ConnectorState().model_dump_json(exclude_unset=True) == "{}"


def test_cursor_dict_helpers() -> None:
    d = make_cursor_dict({"a": 1})
    assert d == {"a": 1, CURSOR_MARKER: True}
    assert is_cursor_dict(d) and not is_cursor_dict({"a": 1}) and not is_cursor_dict("x")
    assert pop_cursor_marker(d) == {"a": 1}
    assert CURSOR_MARKER in d  # the input is not modified


def make_resource(name: str, **kwargs: Any) -> Resource[Any, Any, Any]:
    defaults: dict[str, Any] = {
        "key": ["/id"],
        "model": Item,
        "open": lambda *a: None,
        "initial_state": ResourceState(),
        "initial_config": ResourceConfig(name=name),
        "schema_inference": False,
    }
    return Resource(name=name, **{**defaults, **kwargs})


def test_discovered_schemas_and_bindings() -> None:
    fixed = {"type": "object", "properties": {"x": {"type": "string"}}}
    resources = [
        make_resource("plain"),
        make_resource(
            "inferred", schema_inference=True, reduction_strategy=ReductionStrategy.MERGE, disable=True
        ),
        make_resource("fixed", model=Resource.FixedSchema(fixed), reduction_strategy=ReductionStrategy.SUM),
        make_resource("timed", initial_config=ResourceConfig(name="timed", interval=timedelta(minutes=5))),
    ]
    out = json.loads(discovered(resources).model_dump_json(by_alias=True, exclude_unset=True))
    b = out["bindings"]
    assert [x["recommendedName"] for x in b] == ["plain", "inferred", "fixed", "timed"]
    assert b[0]["documentSchema"] == Item.model_json_schema(mode="serialization")
    assert b[0]["disable"] is False and b[1]["disable"] is True
    assert b[0]["resourceConfig"] == {"name": "plain"}
    assert b[3]["resourceConfig"] == {"name": "timed", "interval": "PT5M"}
    assert b[0]["key"] == ["/id"]
    inferred = b[1]["documentSchema"]
    assert inferred["x-infer-schema"] is True
    assert inferred["if"] == {
        "required": ["_meta"],
        "properties": {"_meta": {"required": ["op"], "properties": {"op": {"const": "d"}}}},
    }
    assert inferred["then"] == {"reduce": {"strategy": "merge", "delete": True}}
    assert inferred["else"] == {"reduce": {"strategy": "merge"}}
    assert b[2]["documentSchema"] == {**fixed, "reduce": {"strategy": "sum"}}
    assert "reduce" not in fixed  # the resource's schema is not mutated


def validate_bindings(*specs: tuple[str, list[str]]) -> list[Any]:
    return [
        request.ValidateBinding[ResourceConfig].model_validate(
            {
                "collection": {"name": f"acmeCo/{n}", "key": key, "writeSchema": {}},
                "resourceConfig": {"name": n},
            }
        )
        for n, key in specs
    ]


def test_resolve_and_validate() -> None:
    snap = SnapshotResource(name="snap", open=lambda *a: None, initial_config=ResourceConfig(name="snap"))
    resources = [make_resource("a"), make_resource("b"), snap]
    bindings = validate_bindings(("b", ["/id"]), ("snap", ["/_meta/row_id"]), ("a", ["/id"]))
    resolved = resolve_bindings(bindings, resources)
    assert [r.name for _, r in resolved] == ["b", "snap", "a"]
    assert validated(resolved).model_dump() == {
        "bindings": [{"resourcePath": ["b"]}, {"resourcePath": ["snap"]}, {"resourcePath": ["a"]}]
    }


def test_resolve_reports_every_problem() -> None:
    snap = SnapshotResource(name="snap", open=lambda *a: None, initial_config=ResourceConfig(name="snap"))
    bindings = validate_bindings(("nope", ["/id"]), ("snap", ["/id"]), ("other", ["/id"]))
    with pytest.raises(ValidationError) as err:
        resolve_bindings(bindings, [snap], resource_term="Stream")
    assert err.value.errors == [
        "Stream 'nope' was not found.",
        "Collection 'acmeCo/snap' is bound to snapshot resource 'snap' and so must be keyed on "
        "/_meta/row_id, but its key is ['/id'].",
        "Stream 'other' was not found.",
    ]


def test_snapshot_resource_defaults() -> None:
    snap = SnapshotResource(name="s", open=lambda *a: None, initial_config=ResourceConfig(name="s"))
    assert snap.key == ["/_meta/row_id"]
    assert snap.model is BaseDocument and snap.schema_inference is True
    assert snap.initial_state == ResourceState()
    with pytest.raises(ValueError, match="row_id"):
        SnapshotResource(name="s", key=["/id"], open=lambda *a: None, initial_config=ResourceConfig(name="s"))


def test_binding_helper_builds_capture_bindings() -> None:
    # Guard for the other tests' fixture.
    assert binding("x").resourceConfig.path() == ["x"]
