"""Packed tuples (flow-protocol §3.8): golden vectors, round trips, and the C decoder checked
against the Python reference on generated input, errors included."""

from __future__ import annotations

import base64
import math
import struct

import pytest
from estuary_cdk.materialize import packed
from estuary_cdk.materialize.packed import PackedError, pack, unpack, unpack_py
from hypothesis import given, settings
from hypothesis import strategies as st

GOLDEN = [  # flow-protocol.md §3.8
    ([1], "FQE="),
    (["foo"], "AmZvbwA="),
    ([1, "foo"], "FQECZm9vAA=="),
    ([True], "Jw=="),
]

DECODERS = [pytest.param(unpack_py, id="python")]
if packed.using_c():
    DECODERS.append(pytest.param(packed._unpack_c, id="c"))


def test_the_c_decoder_is_built_here() -> None:
    # The kit's install builds it on this machine (build_ext.py); without it Store decoding is
    # several times slower, so a silently missing build must not pass unnoticed.
    assert packed.using_c()


@pytest.mark.parametrize(("values", "b64"), GOLDEN)
@pytest.mark.parametrize("decode", DECODERS)
def test_golden_vectors(values: list[object], b64: str, decode: object) -> None:
    assert base64.b64encode(pack(values)).decode() == b64
    assert decode(base64.b64decode(b64)) == tuple(values)  # type: ignore[operator]


@pytest.mark.parametrize("decode", DECODERS)
def test_every_element_kind(decode: object) -> None:
    values = [
        None, True, False, 0, 1, -1, 255, 256, -255, -256, 2**63 - 1, -(2**63), 2**64 - 1,
        2**64, 2**100, -(2**64), -(2**100), 0.0, -0.0, 1.5, -1.5, math.inf, -math.inf, 1e300,
        "", "a\x00b\x00", "héllo 😀", b"", b'{"a":[1,2]}', b"\x00\x00\xff",
    ]  # fmt: skip
    got = decode(pack(values))  # type: ignore[operator]
    assert got == tuple(values)
    assert [type(v) for v in got] == [type(v) for v in values]
    assert math.copysign(1, got[values.index(-0.0, 18)]) == -1


def test_order_is_preserved_by_the_encoding() -> None:
    ints = [-(2**70), -(2**64), -(2**63), -300, -1, 0, 1, 300, 2**63, 2**64, 2**70]
    assert sorted(ints, key=lambda i: pack([i])) == ints
    floats = [-math.inf, -1e10, -1.5, -0.0, 0.0, 1e-300, 2.5, math.inf]
    assert sorted(floats, key=lambda f: pack([f])) == floats


def test_nan_round_trips() -> None:
    assert math.isnan(unpack(pack([math.nan]))[0])


@pytest.mark.parametrize("decode", DECODERS)
@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x02abc", "unterminated string or bytes element at offset 0"),
        (b"\x15\x01\x01abc", "unterminated string or bytes element at offset 2"),
        (b"\x02a\x00\xffb", "unterminated string or bytes element at offset 0"),
        (b"\x16\x01", "truncated integer element at offset 0"),
        (b"\x21\x00\x00", "truncated double element at offset 0"),
        (b"\x1d\x09\x01", "truncated integer element at offset 0"),
        (b"\x02\xff\xfe\x00", "string element is not UTF-8 at offset 0"),
        (b"\x40", "unsupported tuple element type 0x40 at offset 0"),
    ],
)
def test_invalid_input_names_the_offset(decode: object, data: bytes, message: str) -> None:
    with pytest.raises(PackedError, match=message):
        decode(data)  # type: ignore[operator]


json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False)
    | st.text()
    | st.binary()
)


@settings(max_examples=300, deadline=None)
@given(st.lists(json_scalars, max_size=80))
def test_c_and_python_agree_on_valid_tuples(values: list[object]) -> None:
    data = pack(values)
    assert unpack_py(data) == tuple(values)
    assert packed.unpack(data) == tuple(values)


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=40))
def test_c_and_python_agree_on_arbitrary_bytes(data: bytes) -> None:
    try:
        expected: object = unpack_py(data)
    except PackedError as exc:
        expected = str(exc)
    try:
        got: object = packed.unpack(data)
    except PackedError as exc:
        got = str(exc)
    if isinstance(expected, tuple) and isinstance(got, tuple):
        # NaN payloads compare unequal to themselves: compare their bytes.
        assert [struct.pack(">d", v) if isinstance(v, float) else v for v in got] == [
            struct.pack(">d", v) if isinstance(v, float) else v for v in expected
        ]
    else:
        assert got == expected
