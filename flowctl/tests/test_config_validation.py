"""Endpoint and resource configs are checked against the connector's own Spec schemas before
Discover/Validate/Open carry them, with errors naming the catalog location and the bad field
(and never a secret's value). A real connector subprocess (the fake connector) serves the Spec."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flowctl.config_check import _problems
from flowctl.sops import encrypted_names

from .conftest import Catalog, MakeCatalog, run_flowctl

CONFIG_SCHEMA: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "title": "Fake endpoint",
    "properties": {
        "mode": {"type": "string", "order": 0},
        "api_key": {
            "type": "string",
            "title": "API key",
            "airbyte_secret": True,
            "minLength": 8,
            "order": 1,
        },
        "credentials": {
            "title": "Authentication",
            "discriminator": {"propertyName": "auth_type"},
            "x-oauth2-provider": "fake",
            "oneOf": [{"$ref": "#/$defs/token"}, {"$ref": "#/$defs/none"}],
        },
        "frequency": {"type": "string", "enum": ["daily", "weekly"], "advanced": True},
        "per_session": {"type": "integer", "minimum": 1, "advanced": True},
        "notes": {"type": "string", "multiline": True, "x-hidden": True},
        "start_date": {"type": "string", "format": "date-time"},
    },
    "required": ["api_key"],
    "$defs": {
        "token": {
            "type": "object",
            "properties": {
                "auth_type": {"const": "token"},
                "access_token": {"type": "string", "secret": True, "pattern": "^tok_"},
            },
            "required": ["auth_type", "access_token"],
        },
        "none": {
            "type": "object",
            "properties": {"auth_type": {"const": "none"}},
            "required": ["auth_type"],
        },
    },
}
RESOURCE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "x-collection-name": True},
        "sync": {"type": "string", "enum": ["full", "incremental"], "default": "full"},
    },
    "required": ["name"],
    "additionalProperties": False,
}
ENV = {"FAKE_CONFIG_SCHEMA": json.dumps(CONFIG_SCHEMA), "FAKE_RESOURCE_SCHEMA": json.dumps(RESOURCE_SCHEMA)}
GOOD: dict[str, Any] = {
    "mode": "ok",
    "api_key": "key-12345678",
    "credentials": {"auth_type": "token", "access_token": "tok_abcdef"},
    "frequency": "daily",
    "per_session": 2,
    "notes": "line one\nline two",
    "start_date": "2024-01-01T00:00:00Z",
}
CONFIG_LOCATION = "#/captures/acmeCo~1source-fake/endpoint/local/config"


def _preview(cat: Catalog) -> Any:
    return run_flowctl("preview", "--source", str(cat.path), "--sessions", "1")


def _no_config_reached_the_connector(cat: Catalog) -> None:
    for kind in ("validate", "open", "apply", "discover"):
        assert cat.requests(kind) == [], f"the connector received a {kind} request"


def test_good_configs_run_unchanged(make_catalog: MakeCatalog) -> None:
    cat = make_catalog(config=GOOD, env=ENV)
    res = _preview(cat)
    assert res.code == 0, res.stderr
    assert res.lines() and res.lines()[0] == ["acmeCo/users", res.lines()[0][1]]
    assert cat.requests("validate")[0]["request"]["validate"]["config"] == GOOD
    assert run_flowctl("raw", "validate", "--source", str(cat.path)).code == 0
    assert run_flowctl("raw", "apply", "--source", str(cat.path)).code == 0
    assert run_flowctl("raw", "discover", "--source", str(cat.path), "--emit-raw").code == 0


def test_a_wrong_type_names_file_location_and_field(make_catalog: MakeCatalog) -> None:
    cat = make_catalog(config={**GOOD, "per_session": "two"}, env=ENV)
    res = _preview(cat)
    assert res.code == 1
    assert f"{cat.path}{CONFIG_LOCATION}: endpoint config does not match the connector's configSchema" in (
        res.stderr
    )
    assert 'at /per_session: "two" is not of type "integer"' in res.stderr
    assert res.stdout == ""
    _no_config_reached_the_connector(cat)
    assert cat.requests("spec"), "the schema comes from the connector's Spec"


def test_a_missing_required_field(make_catalog: MakeCatalog) -> None:
    config = {k: v for k, v in GOOD.items() if k != "api_key"}
    cat = make_catalog(config=config, env=ENV)
    res = run_flowctl("raw", "validate", "--source", str(cat.path))
    assert res.code == 1
    assert CONFIG_LOCATION in res.stderr
    assert 'at /: "api_key" is a required property' in res.stderr
    _no_config_reached_the_connector(cat)


def test_an_unknown_enum_value(make_catalog: MakeCatalog) -> None:
    cat = make_catalog(config={**GOOD, "frequency": "hourly"}, env=ENV)
    res = run_flowctl("raw", "apply", "--source", str(cat.path))
    assert res.code == 1
    assert 'at /frequency: "hourly" is not one of "daily" or "weekly"' in res.stderr
    _no_config_reached_the_connector(cat)


def test_discover_checks_the_endpoint_config(make_catalog: MakeCatalog) -> None:
    cat = make_catalog(config={**GOOD, "start_date": "yesterday"}, env=ENV)
    res = run_flowctl("raw", "discover", "--source", str(cat.path), "--emit-raw")
    assert res.code == 1
    assert CONFIG_LOCATION in res.stderr and "at /start_date:" in res.stderr
    _no_config_reached_the_connector(cat)


def test_a_bad_resource_config_in_the_second_binding(make_catalog: MakeCatalog) -> None:
    bindings = [
        {"resource": {"name": "users"}, "target": "acmeCo/users"},
        {"resource": {"name": "events", "sync": "sometimes"}, "target": "acmeCo/events"},
    ]
    cat = make_catalog(config=GOOD, bindings=bindings, env=ENV)
    res = _preview(cat)
    assert res.code == 1
    assert (
        f"{cat.path}#/captures/acmeCo~1source-fake/bindings/1/resource: resource config does not match "
        "the connector's resourceConfigSchema" in res.stderr
    )
    assert 'at /sync: "sometimes" is not one of "full" or "incremental"' in res.stderr
    _no_config_reached_the_connector(cat)


def test_a_disabled_binding_is_not_checked(make_catalog: MakeCatalog) -> None:
    bindings = [
        {"resource": {"name": "users"}, "target": "acmeCo/users"},
        {"resource": {"name": "events", "extra": 1}, "target": "acmeCo/events", "disable": True},
    ]
    res = _preview(make_catalog(config=GOOD, bindings=bindings, env=ENV))
    assert res.code == 0, res.stderr


@pytest.mark.parametrize(
    ("change", "secrets", "field"),
    [
        ({"api_key": "k3y!"}, ["k3y!"], "/api_key"),  # too short
        ({"api_key": 31415926535}, ["31415926535"], "/api_key"),  # wrong type
        (  # fails its pattern, and the oneOf around it quotes the whole object
            {"credentials": {"auth_type": "token", "access_token": "hunter2-secret"}},
            ["hunter2-secret", "hunter2"],
            "/credentials",
        ),
        # the wrong shape: the token pasted where the credentials object belongs
        ({"credentials": "tok_pasted-token-4711"}, ["tok_pasted-token-4711", "pasted-token"], "/credentials"),
        ({"credentials": ["tok_pasted-token-4711"]}, ["pasted-token"], "/credentials"),
        # a secret of the wrong type inside the object (numbers are values too)
        ({"credentials": {"auth_type": "token", "access_token": 27182818}}, ["27182818"], "/credentials"),
    ],
)
def test_secret_values_are_never_printed(
    make_catalog: MakeCatalog, change: dict[str, Any], secrets: list[str], field: str
) -> None:
    cat = make_catalog(config={**GOOD, **change}, env=ENV)
    res = _preview(cat)
    assert res.code == 1
    assert f"at {field}" in res.stderr
    assert "<secret value>" in res.stderr
    for secret in secrets:
        assert secret not in res.stderr + res.stdout
    _no_config_reached_the_connector(cat)


def test_every_error_is_listed(make_catalog: MakeCatalog) -> None:
    config = {**GOOD, "frequency": "hourly", "per_session": 0}
    res = _preview(make_catalog(config=config, env=ENV))
    assert res.code == 1
    assert "at /frequency:" in res.stderr and "at /per_session: 0 is less than the minimum of 1" in res.stderr


def test_a_config_file_is_named(make_catalog: MakeCatalog) -> None:
    cat = make_catalog(config={}, env=ENV)
    config_file = cat.path.parent / "config.yaml"
    config_file.write_text(json.dumps({**GOOD, "per_session": -1}))
    text = cat.path.read_text().replace("config: {}", "config: config.yaml")
    cat.path.write_text(text)
    res = _preview(cat)
    assert res.code == 1
    assert f"{CONFIG_LOCATION}: endpoint config (from {config_file}) does not match" in res.stderr
    assert "at /per_session" in res.stderr


def test_an_invalid_connector_schema_is_a_connector_error(make_catalog: MakeCatalog) -> None:
    cat = make_catalog(config=GOOD, env={"FAKE_CONFIG_SCHEMA": json.dumps({"type": "no-such-type"})})
    res = _preview(cat)
    assert res.code == 1
    assert "connector returned an invalid configSchema" in res.stderr
    _no_config_reached_the_connector(cat)


def test_encrypted_names_follow_the_sops_rules() -> None:
    meta = {"version": "3.11.0", "mac": "ENC[...]"}
    assert encrypted_names({"sops": meta, "a": "ENC[x]"}) is None  # sops encrypted every value
    assert encrypted_names({"sops": {**meta, "unencrypted_suffix": "_plain"}, "a": "ENC[x]"}) is None
    doc = {"sops": {**meta, "encrypted_suffix": "_sops"}, "a_sops": "x", "b": {"c_sops": "y", "d": 1}}
    assert encrypted_names(doc) == {"a", "c"}
    doc = {"sops": {**meta, "encrypted_regex": "^(token|password)$"}, "token": "x", "b": {"password": "y"}}
    assert encrypted_names(doc) == {"token", "password"}


def test_a_fully_encrypted_config_shows_no_value() -> None:
    schema = {
        "type": "object",
        "properties": {"n": {"type": "string"}, "t": {"type": "string", "minLength": 10}},
        "required": ["host"],
    }
    problems = _problems(schema, {"n": 314159, "t": "abcdef"}, "configSchema", None)
    assert problems is not None
    assert "at /n: <secret value>" in problems and "at /t: <secret value>" in problems
    assert '"host" is a required property' in problems
    assert "314159" not in problems and "abcdef" not in problems
    # the same config, not encrypted, is shown
    shown = _problems(schema, {"n": 314159, "t": "abcdef"}, "configSchema")
    assert shown is not None and "314159" in shown and "abcdef" in shown


def test_unknown_config_keys_are_warned_about_with_the_declared_ones(make_catalog: MakeCatalog) -> None:
    """Issue 12, item 8: `base_ur:` for `base_url:` ran with the default URL, silently."""
    config = {**GOOD, "mdoe": "slow", "credentials": {**GOOD["credentials"], "acess_token": "x"}}
    resource_schema = {**RESOURCE_SCHEMA, "additionalProperties": True}
    env = {**ENV, "FAKE_RESOURCE_SCHEMA": json.dumps(resource_schema)}
    bindings = [{"resource": {"name": "users", "synk": "full"}, "target": "acmeCo/users"}]
    cat = make_catalog(config=config, env=env, bindings=bindings)
    res = _preview(cat)
    assert res.code == 0, res.stderr  # a warning, not an error: the schema allows extra keys
    assert (
        f"{cat.path}{CONFIG_LOCATION}: key /mdoe is not in the connector's configSchema, so the connector "
        "ignores it (declared there: api_key, credentials, frequency, mode, notes, per_session, start_date); "
        "a typo?" in res.stderr
    )
    # inside a oneOf of $refs: the keys of every branch count as declared
    assert "key /credentials/acess_token is not in the connector's configSchema" in res.stderr
    assert "(declared there: access_token, auth_type)" in res.stderr
    assert (
        "#/captures/acmeCo~1source-fake/bindings/0/resource: key /synk is not in the connector's "
        "resourceConfigSchema" in res.stderr
    )
    assert "key /mode " not in res.stderr and "/api_key " not in res.stderr


def test_a_value_in_place_of_an_object_holding_secrets_is_never_shown() -> None:
    """`credentials` is not itself marked secret, but holds one (through a `$ref` and a `oneOf`):
    whatever stands at its place is never quoted, nor is any secret inside a larger value."""
    for config in (
        {"api_key": "key-12345678", "credentials": "tok_pasted-token-4711"},
        {"api_key": "key-12345678", "credentials": {"auth_type": "token", "access_token": 27182818}},
    ):
        problems = _problems(CONFIG_SCHEMA, config, "configSchema")
        assert problems is not None and "at /credentials: <secret value>" in problems
        assert "pasted-token" not in problems and "27182818" not in problems
    # a value outside the secrets is still shown
    problems = _problems(CONFIG_SCHEMA, {**GOOD, "per_session": "two"}, "configSchema")
    assert problems is not None and '"two" is not of type "integer"' in problems
    # a root-level error quoting the whole config masks the secrets inside it
    problems = _problems({**CONFIG_SCHEMA, "maxProperties": 1}, GOOD, "configSchema")
    assert problems is not None and "key-12345678" not in problems and "tok_abcdef" not in problems
    assert '"mode":"ok"' in problems
