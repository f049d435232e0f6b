"""Packed tuples (flow-protocol §3.8) and Gazette v1 UUIDs."""

from __future__ import annotations

import base64
import uuid
from typing import Any

import pytest

from flowctl import gazette_uuid, tuple_pack


@pytest.mark.parametrize(
    ("values", "b64"),
    [([1], "FQE="), (["foo"], "AmZvbwA="), ([1, "foo"], "FQECZm9vAA=="), ([True], "Jw==")],
)
def test_reference_examples(values: list[Any], b64: str) -> None:
    assert base64.b64encode(tuple_pack.pack(values)).decode() == b64


@pytest.mark.parametrize(
    ("value", "hex_"),
    [
        (None, "00"),
        (False, "26"),
        (True, "27"),
        (0, "14"),
        (1, "1501"),
        (255, "15ff"),
        (256, "160100"),
        (2**64 - 1, "1cffffffffffffffff"),
        (-1, "13fe"),
        (-255, "1300"),
        (-256, "12feff"),
        (-(2**63), "0c7fffffffffffffff"),
        (1.5, "21bff8000000000000"),
        (-1.5, "214007ffffffffffff"),
        (0.0, "218000000000000000"),
        (1.0, "21bff0000000000000"),  # a JSON float stays a double even when integral
        (2**64, "21c3f0000000000000"),  # beyond 64 bits: a double, as Flow parses it
        ("", "0200"),
        ("a\x00b", "026100ff6200"),
        ("é", "02c3a900"),
        ({"b": [1], "a": None}, "017b2261223a6e756c6c2c2262223a5b315d7d00"),
        ([1, "x"], "015b312c2278225d00"),
    ],
)
def test_element_encodings(value: Any, hex_: str) -> None:
    packed = tuple_pack.pack([value])
    assert packed.hex() == hex_
    (back,) = tuple_pack.unpack(packed)
    expected = float(value) if isinstance(value, int) and value >= 2**64 else value
    if isinstance(value, dict):
        expected = dict(sorted(value.items()))
    assert back == expected and type(back) is type(expected)


def test_packing_preserves_order() -> None:
    # (the tuple layer orders by type code first: nil, bytes, strings, integers, doubles, booleans)
    ordered = [None, -(2**63), -256, -1, 0, 1, 255, 256, 2**64 - 1, False, True]
    packed = [tuple_pack.pack([v]) for v in ordered]
    assert packed == sorted(packed)
    doubles = [-1e300, -1.5, -0.0, 0.0, 1.5, 1e300]
    packed = [tuple_pack.pack([v]) for v in doubles]
    assert packed == sorted(packed)
    strings = ["", "a", "a\x00", "a\x00b", "ab", "b"]
    assert [tuple_pack.pack([s]) for s in strings] == sorted(tuple_pack.pack([s]) for s in strings)


def test_uuid_layout_is_v1_with_the_clock_time() -> None:
    clock = gazette_uuid.clock_from_unix(1567304621, 981273734)
    text = gazette_uuid.build(bytes([9, 6, 7, 5, 3, 9]), clock + 32, flags=682)
    parsed = uuid.UUID(text)
    assert parsed.version == 1 and parsed.variant == uuid.RFC_4122
    assert parsed.time == (clock + 32) >> 4  # the RFC 4122 timestamp
    assert parsed.node == 0x090607050309
    assert parsed.clock_seq == 682  # the counter is zero: the clock sequence is just the flags
    assert gazette_uuid.parse(text) == (bytes([9, 6, 7, 5, 3, 9]), clock + 32, 682)
    assert gazette_uuid.published_at(text) == "2019-09-01T02:23:41.981273900Z"
    with pytest.raises(ValueError):
        gazette_uuid.build(bytes([8, 0, 0, 0, 0, 0]), clock)  # not a multicast producer


def test_fixture_uuids() -> None:
    first = gazette_uuid.fixture_uuid(0, 0)
    assert first.endswith("-071353030311") and uuid.UUID(first).version == 1
    assert gazette_uuid.published_at(first) == "1970-01-01T00:00:00.000000000Z"
    assert gazette_uuid.published_at(gazette_uuid.fixture_uuid(2, 5)) == "1970-01-01T02:00:05.000000000Z"


def test_published_at_against_the_standard_library() -> None:
    from datetime import UTC, datetime

    for seconds in (0, 59, 3600 * 25 + 61, 1_700_000_000, 4_102_444_799):
        text = gazette_uuid.build(
            gazette_uuid.FIXTURE_PRODUCER, gazette_uuid.clock_from_unix(seconds, 123456700)
        )
        expected = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S") + ".123456700Z"
        assert gazette_uuid.published_at(text) == expected
        assert str(uuid.UUID(text)) == text  # the hand-made formatting is the canonical form
