"""Golden wire lines (reference/estuary-cdk.md §2.5, flow-protocol.md §2.10): every response line
parses into our models and is re-emitted byte for byte; requests parse with unknown fields ignored."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any, ClassVar

import pytest
from estuary_cdk import MalformedRequestError, parse_request_line
from estuary_cdk.capture import Request, Response, request, response
from estuary_cdk.capture.base_capture_connector import BaseCaptureConnector
from estuary_cdk.flow import PROTOCOL_VERSION, ConnectorSpec
from pydantic import BaseModel


class Resource(BaseModel):
    PATH_POINTERS: ClassVar[list[str]] = ["/name"]
    name: str
    interval: timedelta = timedelta(minutes=5)


class AnyState(BaseModel, extra="allow"):
    pass


class Endpoint(BaseModel, extra="allow"):
    pass


R = Response[Endpoint, Resource, AnyState]
Req = Request[Endpoint, Resource, AnyState]

GOLDEN_RESPONSES = [
    # reference/estuary-cdk.md §2.5 (elided schemas filled in)
    '{"spec":{"configSchema":{"type":"object"},"resourceConfigSchema":{"type":"object"},"documentationUrl":"https://example.com","resourcePathPointers":["/name"],"protocol":3032023}}',
    '{"discovered":{"bindings":[{"recommendedName":"items","resourceConfig":{"name":"items","interval":"PT1S"},"documentSchema":{"type":"object"},"key":["/id"],"disable":false}]}}',
    '{"validated":{"bindings":[{"resourcePath":["items"]}]}}',
    '{"applied":{"actionDescription":""}}',
    '{"opened":{"explicitAcknowledgements":false}}',
    '{"captured":{"binding":0,"doc":{"id":1,"updated_at":"2025-01-01T00:00:00Z"}}}',
    '{"sourcedSchema":{"binding":3,"schema_json":{"type":"object"}}}',
    '{"checkpoint":{"state":{"updated":{"bindingStateV1":{"items":{"backfill":{"cutoff":"2025-01-01T00:00:00Z","next_page":1}}}},"mergePatch":true}}}',
    # reference/estuary-cdk.md §3.4
    '{"checkpoint":{"state":{"updated":{"bindingStateV1":{"items":null},"backfillRequests":{"items":null}},"mergePatch":true}}}',
    '{"captured":{"binding":1,"doc":{"_meta":{"op":"c","row_id":0},"name":"a"}}}',
    # flow-protocol.md §2.10
    '{"opened":{"explicitAcknowledgements":true}}',
    '{"checkpoint":{"state":{"updated":{},"mergePatch":true}}}',
    '{"captured":{"binding":0,"doc":{"id":1,"name":"a","_meta":{"op":"c"}}}}',
    '{"checkpoint":{"state":{"updated":{"bindingStateV1":{"users.v1":{"cursor":"2"}}},"mergePatch":true}}}',
]


class _Connector(BaseCaptureConnector[Endpoint, Resource, AnyState]):
    def request_class(self) -> type[Req]:
        return Req

    async def spec(self, log: Any, _: Any) -> ConnectorSpec:
        raise NotImplementedError

    async def discover(self, log: Any, discover: Any) -> Any:
        raise NotImplementedError

    async def validate(self, log: Any, validate: Any) -> Any:
        raise NotImplementedError

    async def open(self, log: Any, open: Any) -> Any:
        raise NotImplementedError


@pytest.mark.parametrize("line", GOLDEN_RESPONSES)
async def test_golden_response_round_trips_byte_for_byte(line: str) -> None:
    parsed = R.model_validate_json(line)
    connector = _Connector()
    connector.output = io.BytesIO()
    await connector._emit(parsed)
    assert connector.output.getvalue() == line.encode() + b"\n"


def test_checkpoint_lines_of_state_models() -> None:
    from estuary_cdk.capture.common import ConnectorState, ResourceState
    from estuary_cdk.capture.task import checkpoint_line

    cleared = ConnectorState[ResourceState](bindingStateV1={"items": None}, backfillRequests={"items": None})
    lines = checkpoint_line(cleared) + checkpoint_line(ConnectorState[ResourceState](), merge_patch=False)
    assert lines.decode().splitlines() == [
        '{"checkpoint":{"state":{"updated":{"bindingStateV1":{"items":null},"backfillRequests":{"items":null}},"mergePatch":true}}}',
        '{"checkpoint":{"state":{"updated":{},"mergePatch":false}}}',
    ]


def test_sourced_schema_accepts_the_json_name_and_emits_schema_json() -> None:
    line = '{"sourcedSchema":{"binding":0,"documentSchema":{"type":"object","required":["id"]}}}'
    parsed = R.model_validate_json(line)
    assert parsed.sourcedSchema is not None
    assert parsed.sourcedSchema.schemaJson == {"type": "object", "required": ["id"]}
    out = parsed.sourcedSchema.model_dump_json(by_alias=True, exclude_unset=True)
    assert out == '{"binding":0,"schema_json":{"type":"object","required":["id"]}}'


async def test_spec_protocol_is_forced_and_last() -> None:
    spec = ConnectorSpec(
        configSchema={"type": "object"},
        resourceConfigSchema={"type": "object"},
        documentationUrl="https://example.com",
        resourcePathPointers=["/name"],
    )
    spec.protocol = PROTOCOL_VERSION
    connector = _Connector()
    connector.output = io.BytesIO()
    await connector._emit(Response(spec=spec))
    assert connector.output.getvalue() == GOLDEN_RESPONSES[0].encode() + b"\n"


def test_oauth2_omitted_unless_set_and_token_exchange_body_never_emitted() -> None:
    from estuary_cdk.flow import OAuth2Spec

    oauth = OAuth2Spec(
        provider="p",
        accessTokenBody="b",
        authUrlTemplate="a",
        accessTokenHeaders={},
        accessTokenResponseMap={},
        accessTokenUrlTemplate="t",
        additionalTokenExchangeBody={"x": 1},
    )
    spec = ConnectorSpec(
        configSchema={}, resourceConfigSchema={}, documentationUrl="d", resourcePathPointers=[], oauth2=oauth
    )
    out = spec.model_dump_json(by_alias=True, exclude_unset=True)
    assert '"oauth2":{"provider":"p"' in out
    assert "additionalTokenExchangeBody" not in out
    plain = ConnectorSpec(
        configSchema={}, resourceConfigSchema={}, documentationUrl="d", resourcePathPointers=[]
    )
    assert "oauth2" not in plain.model_dump_json(by_alias=True, exclude_unset=True)


GOLDEN_REQUESTS = [
    '{"spec":{"connectorType":"IMAGE","config":{}}}',
    '{"discover":{"connectorType":"IMAGE","config":{"token":"x"}}}',
    '{"validate":{"name":"acmeCo/demo","connectorType":"IMAGE","config":{"token":"x"},"bindings":[{"collection":{"name":"acmeCo/items","key":["/id"],"writeSchema":{"type":"object"}},"resourceConfig":{"name":"items"},"backfill":0}],"lastCapture":null}}',
    '{"apply":{"capture":{"name":"acmeCo/demo","connectorType":"IMAGE","config":{},"intervalSeconds":300,"bindings":[]},"version":"v1","dryRun":false}}',
    '{"open":{"capture":{"name":"acmeCo/source-x","connectorType":"IMAGE","config":{"token":"t"},"bindings":[{"resourceConfig":{"name":"users"},"resourcePath":["users"],"collection":{"name":"acmeCo/users","writeSchema":{},"key":["/id"],"uuidPtr":"/_meta/uuid","projections":[]},"backfill":1,"stateKey":"users.v1"}],"intervalSeconds":300,"shardTemplate":{}},"version":"0a1b2c3d4e5f6071","range":{"keyEnd":4294967295,"rClockEnd":4294967295},"state":{}}}',
    '{"acknowledge":{"checkpoints":2}}',
]


@pytest.mark.parametrize("line", GOLDEN_REQUESTS)
def test_golden_requests_parse(line: str) -> None:
    parsed = parse_request_line(Req, line.encode(), 1)
    assert len(parsed.model_fields_set) == 1


def test_open_request_fields_and_defaults() -> None:
    parsed = parse_request_line(Req, GOLDEN_REQUESTS[4].encode(), 1)
    assert parsed.open is not None
    binding = parsed.open.capture.bindings[0]
    assert binding.stateKey == "users.v1" and binding.backfill == 1 and binding.resourcePath == ["users"]
    assert binding.resourceConfig.interval == timedelta(minutes=5)
    assert parsed.open.range.keyBegin == 0 and parsed.open.range.rClockEnd == 0xFFFFFFFF
    assert parsed.open.state.model_dump() == {}


def test_validate_alias_and_empty_acknowledge() -> None:
    parsed = parse_request_line(Req, GOLDEN_REQUESTS[2].encode(), 1)
    assert parsed.validate_ is not None
    assert parsed.validate_.bindings[0].collection.key == ["/id"]
    ack = parse_request_line(Req, b'{"acknowledge":{}}', 1)
    assert ack.acknowledge == request.Acknowledge(checkpoints=0)


def test_open_without_state_defaults_to_empty_state() -> None:
    line = b'{"open":{"capture":{"name":"a/b","config":{},"bindings":[]},"version":"v"}}'
    parsed = parse_request_line(Req, line, 3)
    assert parsed.open is not None and parsed.open.state.model_dump() == {}


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b'{"spec": ', "malformed request on line 7: invalid JSON: "),
        (b"[1, 2]", "malformed request on line 7: expected a JSON object, got list"),
        (
            b'{"frobnicate":{}}',
            "malformed request on line 7: expected one of the keys spec, discover, validate, apply, open, "
            "acknowledge; got frobnicate",
        ),
        (b'{"validate":{"name":"x"}}', "malformed request on line 7: validate.config: Field required"),
        (
            b'{"spec":null,"other":1}',
            "malformed request on line 7: expected one of the keys spec, discover, validate, apply, open, "
            "acknowledge; got other, spec",
        ),
        (
            b'{"acknowledge":{"checkpoints":-1}}',
            "malformed request on line 7: acknowledge.checkpoints: Input should be greater than or equal to 0",
        ),
    ],
)
def test_malformed_request_lines_get_one_line_errors(line: bytes, expected: str) -> None:
    with pytest.raises(MalformedRequestError) as info:
        parse_request_line(Req, line, 7)
    message = str(info.value)
    assert message.startswith(expected)
    assert "\n" not in message


def test_discovered_binding_always_has_disable() -> None:
    binding = response.DiscoveredBinding(
        recommendedName="x", resourceConfig=Resource(name="x"), documentSchema={}, key=["/id"], disable=False
    )
    out = response.Discovered(bindings=[binding]).model_dump_json(by_alias=True, exclude_unset=True)
    assert (
        out
        == '{"bindings":[{"recommendedName":"x","resourceConfig":{"name":"x"},"documentSchema":{},"key":["/id"],"disable":false}]}'
    )
