"""Unknown endpoint and resource config keys: accepted as before, but each one named in a warning
(a misspelt `base_ur:` otherwise becomes the default URL without a word)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import pytest
from estuary_cdk._unknown_keys import UnknownKey, unknown_keys
from estuary_cdk.capture.common import ConnectorState
from estuary_cdk.capture.request import Request
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, RootModel, ValidationError
from test_engine_protocol import ITEMS, config, open_request, run


class Basic(BaseModel):
    credentials_title: Literal["Basic"] = "Basic"
    username: str


class OAuth(BaseModel):
    credentials_title: Literal["OAuth"] = "OAuth"
    client_id: str


class Endpoint(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    base_url: str = "https://api.example.com"
    page_size: int = Field(default=100, alias="pageSize")
    region: str = Field(default="us", validation_alias=AliasChoices("region", "zone"))
    credentials: Annotated[Basic | OAuth, Field(discriminator="credentials_title")] | None = None
    tables: list[Basic] = []
    by_name: dict[str, Basic] = {}


def _found(raw: dict[str, Any]) -> list[UnknownKey]:
    return unknown_keys(raw, Endpoint.model_validate(raw))


def test_a_misspelt_key_is_named_with_its_model_and_the_likely_field() -> None:
    (key,) = _found({"base_ur": "http://localhost:8080"})
    assert key == UnknownKey("base_ur", "Endpoint", kept=False, suggestion="base_url")
    assert key.describe("endpoint config") == (
        "endpoint config: 'base_ur' is not a field of Endpoint, so it is ignored; did you mean 'base_url'?"
    )


def test_field_names_aliases_and_alias_choices_are_known() -> None:
    assert _found({"base_url": "x", "pageSize": 5, "page_size": 5, "zone": "eu", "region": "eu"}) == []


def test_nested_models_lists_dicts_and_the_union_member_that_parsed() -> None:
    raw = {
        "credentials": {"credentials_title": "OAuth", "client_id": "a", "client_secret_": "s"},
        "tables": [{"username": "u"}, {"username": "v", "pasword": "p"}],
        "by_name": {"x": {"username": "u", "colour": 1}},
        "unrelated": {"deep": 1},
    }
    assert [(k.path, k.model) for k in _found(raw)] == [
        ("credentials.client_secret_", "OAuth"),
        ("tables.1.pasword", "Basic"),
        ("by_name.x.colour", "Basic"),
        ("unrelated", "Endpoint"),
    ]


def test_extras_kept_by_the_model_are_named_too_and_forbidding_models_refuse_as_before() -> None:
    class Open(BaseModel, extra="allow"):
        a: int = 1

    class Closed(BaseModel, extra="forbid"):
        a: int = 1

    (key,) = unknown_keys({"b": 2}, Open.model_validate({"b": 2}))
    assert key.kept and "kept as an extra value that no field reads" in key.describe("endpoint config")
    with pytest.raises(ValidationError):
        Closed.model_validate({"b": 2})


def test_root_models_are_looked_through() -> None:
    class Wrapped(RootModel[Basic]):
        pass

    assert [
        k.path
        for k in unknown_keys({"username": "u", "x": 1}, Wrapped.model_validate({"username": "u", "x": 1}))
    ] == ["x"]


class LenientResource(BaseModel):
    name: str
    interval: str = "PT5M"

    def path(self) -> list[str]:
        return [self.name]


def _binding(resource: dict[str, Any]) -> dict[str, Any]:
    return {"collection": {"name": "acmeCo/items", "key": ["/id"]}, "resourceConfig": resource}


def test_requests_remember_the_unknown_keys_of_each_config() -> None:
    cls = Request[Endpoint, LenientResource, ConnectorState]
    resource = {"name": "items", "intervall": "PT1M", "_meta": {"path": ["items"]}}
    capture = {
        "name": "acmeCo/c",
        "config": {"base_ur": "x"},
        "bindings": [{**_binding(resource), "stateKey": "items"}],
    }
    expected = [
        ("endpoint config", "base_ur", "Endpoint"),
        # `_meta` is the control plane's (the resource path): not the user's mistake.
        ("resource config of binding 0 (acmeCo/items)", "intervall", "LenientResource"),
    ]
    for request in [
        {"validate": {"name": "acmeCo/c", "config": {"base_ur": "x"}, "bindings": [_binding(resource)]}},
        {"apply": {"capture": capture}},
        {"open": {"capture": capture, "state": {}}},
    ]:
        parsed = cls.model_validate(request)
        assert [(where, k.path, k.model) for where, k in parsed.unknown_config_keys] == expected, request
    discover = cls.model_validate({"discover": {"config": {"base_ur": "x"}}})
    assert [(where, k.path) for where, k in discover.unknown_config_keys] == [("endpoint config", "base_ur")]
    assert cls.model_validate({"acknowledge": {"checkpoints": 2}}).unknown_config_keys == []
    assert cls.model_validate({"spec": {}}).unknown_config_keys == []


def _warnings(stderr: list[dict[str, Any]]) -> list[str]:
    return [line["msg"] for line in stderr if line["level"] == "WARNING"]


def test_the_connector_warns_at_discover_validate_and_open_and_still_accepts_the_config() -> None:
    cfg = config(toke="typo", page_sise=3)
    expected = [
        "endpoint config: 'toke' is not a field of EndpointConfig, so it is ignored; did you mean 'token'?",
        "endpoint config: 'page_sise' is not a field of EndpointConfig, so it is ignored; did you mean 'page_size'?",
    ]
    unary = run(
        {"discover": {"connectorType": "IMAGE", "config": cfg}},
        {"validate": {"name": "acmeCo/example", "config": cfg, "bindings": []}},
        {"discover": {"connectorType": "IMAGE", "config": config()}},  # a clean config: no warning
    )
    assert unary.rc == 0 and [list(line) for line in unary.lines] == [
        ["discovered"],
        ["validated"],
        ["discovered"],
    ]
    assert _warnings(unary.stderr) == expected * 2
    opened = run(open_request([ITEMS], {}, toke="typo", page_sise=3, items=0, changes=0))
    assert opened.lines[0] == {"opened": {"explicitAcknowledgements": False}}
    assert _warnings(opened.stderr)[:2] == expected
    (line,) = [entry for entry in opened.stderr if entry["msg"] == expected[0]]
    assert line["fields"]["args"] == {"config": "endpoint config", "key": "toke", "model": "EndpointConfig"}
