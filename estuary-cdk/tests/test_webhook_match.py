"""Webhook match rules, discriminators, resource generation, binding validation and discovery."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from aiohttp.test_utils import make_mocked_request
from estuary_cdk.capture import common
from estuary_cdk.capture.webhook import (
    CATCH_ALL_DISCRIMINATOR,
    BodyDiscriminator,
    BodyMatch,
    HeaderDiscriminator,
    HeaderMatch,
    UrlDiscriminator,
    UrlMatch,
    WebhookCaptureSpec,
    WebhookDocument,
    WebhookResource,
    WebhookResourceConfig,
    open_webhook_binding,
)
from estuary_cdk.flow import ValidationError
from pydantic import BaseModel, Field

LOG = logging.getLogger("test.webhook")


def request(path: str, headers: dict[str, str] | None = None) -> Any:
    return make_mocked_request("POST", path, headers=headers or {})


# -- URL rules --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "path", "params"),
    [
        ("*", "/anything/at/all", {}),
        ("/orders", "/orders", {}),
        ("/orders", "/orders/1", None),
        ("/orders/{id}", "/orders/42", {"id": "42"}),
        ("/orders/{id}", "/orders/42/items", None),
        ("/orders/{id}", "/orders/", None),
        ("/shops/{shop}/orders/{id}", "/shops/acme/orders/7", {"shop": "acme", "id": "7"}),
        ("/files/{rest:.*}", "/files/a/b/c.txt", {"rest": "a/b/c.txt"}),
        (r"/n/{num:\d+}", "/n/123", {"num": "123"}),
        (r"/n/{num:\d+}", "/n/12a", None),
        ("/a.b", "/aXb", None),
    ],
)
async def test_url_patterns_match_paths_and_capture_params(
    pattern: str, path: str, params: dict[str, str] | None
) -> None:
    rule = UrlMatch(value=pattern)
    assert rule.match_path(path) == params
    assert await rule.matches(request(path), LOG) is (params is not None)


@pytest.mark.parametrize("pattern", ["orders", "", "/a/{", "/a/}b", "/a/{1x}", "/a/{x:(}", "/{x}/{x}"])
def test_invalid_url_patterns_are_rejected(pattern: str) -> None:
    with pytest.raises(ValueError, match="Invalid URL pattern"):
        UrlMatch(value=pattern)
    with pytest.raises(ValueError, match="Invalid URL pattern"):
        UrlDiscriminator(known_values={pattern})


@pytest.mark.parametrize(
    ("pattern", "name"),
    [("*", "all"), ("/orders/{id}", "orders_id"), ("/v1/shop-events/", "v1_shop_events"), ("/a", "a")],
)
def test_url_display_names(pattern: str, name: str) -> None:
    assert UrlMatch(value=pattern).display_name == name


@pytest.mark.parametrize(
    ("a", "b", "error"),
    [
        ("*", "*", "The '*' wildcard can only be used in one UrlMatch definition"),
        ("/x", "/x", "Only one UrlMatch can claim the '/x' discriminator value"),
        ("*", "/x", None),
        ("/a/{x}", "/a/{y}", "URL patterns '/a/{x}' and '/a/{y}' match the same URLs"),
        ("/a/{x}/c", "/a/b/{y}", "URL patterns '/a/{x}/c' and '/a/b/{y}' match the same URLs"),
        ("/a/b", "/a/{y}", None),  # /a/b is more literal everywhere: it is tried first.
        ("/a/{x}", "/a/{y}/c", None),  # Different lengths never overlap.
        ("/a/b", "/a/c", None),
    ],
)
def test_url_compatibility(a: str, b: str, error: str | None) -> None:
    assert UrlMatch(value=a).list_compatibility_errors(UrlMatch(value=b)) == error
    if error is None or "wildcard" in error or "claim" in error:
        return
    # The check is symmetric (modulo the order the patterns are named in).
    assert UrlMatch(value=b).list_compatibility_errors(UrlMatch(value=a)) == (
        f"URL patterns '{b}' and '{a}' match the same URLs"
    )


# -- header and body rules --------------------------------------------------------------------


async def test_header_rule_matches_case_insensitive_name_and_exact_value() -> None:
    rule = HeaderMatch(key="X-Event-Type", value="order.created")
    assert await rule.matches(request("/", {"x-event-type": "order.created"}), LOG)
    assert not await rule.matches(request("/", {"X-Event-Type": "Order.Created"}), LOG)
    assert not await rule.matches(request("/"), LOG)
    assert rule.display_name == "order.created"


@pytest.mark.parametrize(
    ("doc", "matched"),
    [
        ({"event": {"type": "refund"}}, True),
        ({"event": {"type": "charge"}}, False),
        ({"event": "refund"}, False),  # A parent that is not an object.
        ({"event": {"type": None}}, False),
        ({}, False),
    ],
)
async def test_body_rule_follows_the_dot_path(doc: dict[str, Any], matched: bool) -> None:
    rule = BodyMatch(key="event.type", value="refund")
    assert await rule.matches(request("/"), LOG, doc) is matched


async def test_body_rule_compares_the_string_form_of_values() -> None:
    assert await BodyMatch(key="version", value="2").matches(request("/"), LOG, {"version": 2})
    assert not await BodyMatch(key="version", value="2").matches(request("/"), LOG, {"version": 2.5})


@pytest.mark.parametrize("key", ["", "a..b", "1a", "a.", "a-b"])
def test_body_rule_keys_must_be_dot_paths(key: str) -> None:
    with pytest.raises(ValueError):
        BodyMatch(key=key, value="x")


def test_key_value_compatibility() -> None:
    assert HeaderMatch(key="k", value="v").list_compatibility_errors(HeaderMatch(key="k", value="v")) == (
        "Only one HeaderMatch(key='k') can claim the 'v' discriminator value"
    )
    assert BodyMatch(key="k", value="v").list_compatibility_errors(BodyMatch(key="k", value="v")) == (
        "Only one BodyMatch(key='k') can claim the 'v' discriminator value"
    )
    assert HeaderMatch(key="k", value="v").list_compatibility_errors(HeaderMatch(key="k", value="w")) is None
    assert HeaderMatch(key="k", value="v").list_compatibility_errors(HeaderMatch(key="j", value="v")) is None
    assert HeaderMatch(key="k", value="v").list_compatibility_errors(BodyMatch(key="k", value="v")) is None
    assert HeaderMatch(key="k", value="v").list_compatibility_errors(UrlMatch(value="*")) is None


def test_rules_sort_most_specific_first() -> None:
    rules = [
        UrlMatch(value="*"),
        UrlMatch(value="/a/{x}"),
        BodyMatch(key="t", value="v"),
        UrlMatch(value="/a/b/c"),
        HeaderMatch(key="k", value="v"),
        UrlMatch(value="/a/b/{y}"),
    ]
    ordered = sorted(rules, key=lambda r: r.sort_key, reverse=True)
    assert [(r.type, r.value) for r in ordered] == [
        ("header", "v"),
        ("body", "v"),
        ("url", "/a/b/c"),
        ("url", "/a/b/{y}"),
        ("url", "/a/{x}"),
        ("url", "*"),
    ]


def test_match_rules_round_trip_through_resource_config_json() -> None:
    for rule in [UrlMatch(value="/x/{id}"), HeaderMatch(key="k", value="v"), BodyMatch(key="a.b", value="c")]:
        config = WebhookResourceConfig(name="n", match_rule=rule)
        parsed = WebhookResourceConfig.model_validate_json(config.model_dump_json(by_alias=True))
        assert parsed.match_rule == rule
        assert type(parsed.match_rule) is type(rule)
    assert WebhookResourceConfig(name="n").match_rule == UrlMatch(value="*")
    assert WebhookResourceConfig(name="n").path() == ["n"]
    assert common.WebhookResourceConfig is WebhookResourceConfig


# -- discriminators and resources ---------------------------------------------------------------


def test_discriminators_create_one_rule_per_known_value_in_sorted_order() -> None:
    assert UrlDiscriminator().create_match_rules() == [UrlMatch(value="*")]
    assert UrlDiscriminator(known_values={"/b", "/a"}).create_match_rules() == [
        UrlMatch(value="/a"),
        UrlMatch(value="/b"),
    ]
    assert HeaderDiscriminator(key="X-T", known_values={"z", "y"}).create_match_rules() == [
        HeaderMatch(key="X-T", value="y"),
        HeaderMatch(key="X-T", value="z"),
    ]
    assert BodyDiscriminator(key="e.t", known_values={"q"}).create_match_rules() == [
        BodyMatch(key="e.t", value="q")
    ]
    with pytest.raises(ValueError):
        HeaderDiscriminator(key="X-T", known_values=set())
    with pytest.raises(ValueError):
        BodyDiscriminator(key="e", known_values=set())


def test_capture_spec_catch_all_is_one_resource_named_after_the_spec() -> None:
    [resource] = WebhookCaptureSpec(name="hooks", key=["/id"]).create_resources()
    assert isinstance(resource, WebhookResource)
    assert resource.name == "hooks"
    assert resource.key == ["/id"]
    assert resource.initial_config == WebhookResourceConfig(name="hooks", match_rule=UrlMatch(value="*"))
    assert resource.open is open_webhook_binding
    assert resource.requires_explicit_acks
    assert resource.model is WebhookDocument
    assert WebhookCaptureSpec().discriminator == CATCH_ALL_DISCRIMINATOR


def test_capture_spec_names_resources_after_each_rule() -> None:
    class Event(WebhookDocument):
        kind: str

    spec = WebhookCaptureSpec[Event](
        discriminator=UrlDiscriminator(known_values={"/orders/{id}", "*"}), document_model=Event
    )
    resources = spec.create_resources()
    assert [r.name for r in resources] == ["webhook-data_all", "webhook-data_orders_id"]
    assert [r.initial_config.name for r in resources] == [r.name for r in resources]
    assert [r.initial_config.match_rule for r in resources] == [
        UrlMatch(value="*"),
        UrlMatch(value="/orders/{id}"),
    ]
    assert all(r.model is Event and r.key == ["/_meta/webhookId"] for r in resources)

    by_header = WebhookCaptureSpec(
        name="shop", discriminator=HeaderDiscriminator(key="X-Topic", known_values={"orders/create"})
    ).create_resources()
    assert [r.name for r in by_header] == ["shop_orders/create"]


def test_capture_spec_parses_as_part_of_an_endpoint_config() -> None:
    class Config(BaseModel):
        webhooks: WebhookCaptureSpec[WebhookDocument] = Field(default_factory=WebhookCaptureSpec)

    config = Config.model_validate(
        {"webhooks": {"name": "x", "discriminator": {"type": "body", "key": "a", "known_values": ["1"]}}}
    )
    assert [r.name for r in config.webhooks.create_resources()] == ["x_1"]
    assert "document_model" not in config.model_dump()["webhooks"]


# -- validation and discovery -------------------------------------------------------------------


def binding(name: str, key: list[str] | None = None) -> dict[str, Any]:
    return {
        "resourceConfig": {"name": name},
        "collection": {"name": f"acmeCo/{name}", "key": key or ["/_meta/webhookId"], "writeSchema": {}},
        "backfill": 0,
    }


def test_resolve_bindings_reports_conflicting_rules_first_with_other_errors() -> None:
    from estuary_cdk.capture import request

    spec_a = WebhookCaptureSpec(name="a", discriminator=UrlDiscriminator(known_values={"/x/{id}"}))
    spec_b = WebhookCaptureSpec(name="b", discriminator=UrlDiscriminator(known_values={"/x/{key}"}))
    resources = [*spec_a.create_resources(), *spec_b.create_resources()]
    bindings = [
        request.ValidateBinding[WebhookResourceConfig].model_validate(binding(n)) for n in ["a_x_id", "nope"]
    ]
    with pytest.raises(ValidationError) as caught:
        common.resolve_bindings(bindings, resources)
    assert caught.value.errors == [
        "URL patterns '/x/{id}' and '/x/{key}' match the same URLs",
        "Resource 'nope' was not found.",
    ]

    with pytest.raises(ValidationError) as only_conflict:
        common.resolve_bindings(bindings[:1], resources)
    assert only_conflict.value.errors == ["URL patterns '/x/{id}' and '/x/{key}' match the same URLs"]

    fine = WebhookCaptureSpec(name="a", discriminator=UrlDiscriminator(known_values={"/x/{id}", "/x/y"}))
    resolved = common.resolve_bindings(bindings[:1], fine.create_resources())
    assert [r.name for _, r in resolved] == ["a_x_id"]


def test_discovery_keys_on_the_webhook_id_and_describes_meta() -> None:
    discovered = common.discovered(WebhookCaptureSpec().create_resources())
    [b] = discovered.bindings
    assert b.recommendedName == "webhook-data"
    assert b.key == ["/_meta/webhookId"]
    assert b.resourceConfig.model_dump(by_alias=True, exclude_unset=True) == {
        "name": "webhook-data",
        "match_rule": {"value": "*", "type": "url"},
    }
    schema = b.documentSchema
    assert schema["x-infer-schema"] is True
    assert "_meta" in schema["required"]
    meta = schema["$defs"]["Meta"]
    assert set(meta["properties"]) >= {
        "op",
        "webhookId",
        "receivedAt",
        "headers",
        "reqPath",
        "pathParams",
        "queryParams",
    }
    assert set(meta["required"]) == {"webhookId", "receivedAt", "headers", "reqPath"}
    assert meta["properties"]["headers"]["additionalProperties"] == {"type": "string"}


def test_capture_spec_schema_is_plain_config(recwarn: pytest.WarningsRecorder) -> None:
    class Config(BaseModel):
        webhooks: WebhookCaptureSpec[WebhookDocument] = Field(default_factory=WebhookCaptureSpec)

    schema = Config.model_json_schema()
    spec = schema["$defs"]["WebhookCaptureSpec_WebhookDocument_"]
    assert set(spec["properties"]) == {"name", "key", "discriminator"}
    assert spec["properties"]["key"]["default"] == ["/_meta/webhookId"]
    assert schema["$defs"]["UrlDiscriminator"]["properties"]["known_values"]["default"] == []
    assert not [w for w in recwarn if "JSON" in str(w.message)]
    # Defaults are not shared between instances.
    first = WebhookCaptureSpec()
    first.key.append("/x")
    assert WebhookCaptureSpec().key == ["/_meta/webhookId"]
