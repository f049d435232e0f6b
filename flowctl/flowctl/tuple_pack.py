"""FoundationDB tuple encoding of keys and values (flow-protocol §3.8): what the runtime sends
in `keyPacked` / `valuesPacked`, and how stored keys sort (the encoding is order-preserving).

Integers travel as Flow parses them: a JSON integer that fits u64 or i64 is an Int, anything
beyond is a double (Flow's documents hold 64-bit integers, larger ones become floats), so no
element needs the tuple layer's arbitrary-precision integer codes. A JSON float is a Double,
also when its value is integral (`1.0` packs differently from `1`, as in Flow). Objects and
arrays are Bytes of their compact JSON with sorted keys."""

from __future__ import annotations

import struct
from typing import Any

import orjson

NIL, BYTES, STRING, INT_ZERO, DOUBLE, FALSE, TRUE = 0x00, 0x01, 0x02, 0x14, 0x21, 0x26, 0x27
_U64_MAX = (1 << 64) - 1
_I64_MIN = -(1 << 63)


def _escaped(out: bytearray, code: int, raw: bytes) -> None:
    out.append(code)
    out += raw.replace(b"\x00", b"\x00\xff")
    out.append(0x00)


def _double(out: bytearray, value: float) -> None:
    raw = bytearray(struct.pack(">d", value))
    if raw[0] & 0x80:  # negative: flip every bit so that larger magnitudes sort first
        raw = bytearray(b ^ 0xFF for b in raw)
    else:  # positive: flip the sign bit so that positives sort after negatives
        raw[0] ^= 0x80
    out.append(DOUBLE)
    out += raw


def pack_into(out: bytearray, value: Any) -> None:
    """Append one element."""
    cls = value.__class__
    if value is None:
        out.append(NIL)
    elif cls is bool:
        out.append(TRUE if value else FALSE)
    elif cls is str:
        _escaped(out, STRING, value.encode())
    elif cls is int:
        if value == 0:
            out.append(INT_ZERO)
        elif 0 < value <= _U64_MAX:
            n = (value.bit_length() + 7) // 8
            out.append(INT_ZERO + n)
            out += value.to_bytes(n, "big")
        elif _I64_MIN <= value < 0:
            n = ((-value).bit_length() + 7) // 8
            out.append(INT_ZERO - n)
            out += (value + (1 << (8 * n)) - 1).to_bytes(n, "big")
        else:
            _double(out, float(value))  # beyond 64 bits Flow holds the number as a double
    elif cls is float:
        _double(out, value)
    elif isinstance(value, dict | list):
        _escaped(out, BYTES, orjson.dumps(value, option=orjson.OPT_SORT_KEYS))
    elif isinstance(value, int):  # int subclasses (bool was handled above)
        pack_into(out, int(value))
    elif isinstance(value, float):
        _double(out, float(value))
    elif isinstance(value, str):
        _escaped(out, STRING, str(value).encode())
    else:
        raise TypeError(f"cannot pack {value!r}: not a JSON value")


def pack(values: list[Any] | tuple[Any, ...]) -> bytes:
    out = bytearray()
    for value in values:
        # The common elements inline (this runs for every key and value of every store).
        cls = value.__class__
        if cls is str:
            raw = value.encode()
            out.append(STRING)
            out += raw.replace(b"\x00", b"\x00\xff") if b"\x00" in raw else raw
            out.append(0x00)
        elif value is None:
            out.append(NIL)
        elif cls is int and 0 < value <= 0xFFFFFFFF:
            n = (value.bit_length() + 7) // 8
            out.append(INT_ZERO + n)
            out += value.to_bytes(n, "big")
        else:
            pack_into(out, value)
    return bytes(out)


def _until_nul(data: bytes, i: int) -> tuple[bytes, int]:
    raw = bytearray()
    while True:
        b = data[i]
        if b == 0x00:
            if i + 1 < len(data) and data[i + 1] == 0xFF:
                raw.append(0)
                i += 2
                continue
            return bytes(raw), i + 1
        raw.append(b)
        i += 1


def unpack(data: bytes) -> list[Any]:
    """The elements of a packed tuple (Bytes decode as the JSON they carry)."""
    items: list[Any] = []
    i = 0
    while i < len(data):
        code = data[i]
        i += 1
        if code == NIL:
            items.append(None)
        elif code in (BYTES, STRING):
            text, i = _until_nul(data, i)
            items.append(orjson.loads(text) if code == BYTES else text.decode())
        elif INT_ZERO - 8 <= code <= INT_ZERO + 8:
            n = abs(code - INT_ZERO)
            number = int.from_bytes(data[i : i + n], "big")
            items.append(number if code >= INT_ZERO else number - (1 << (8 * n)) + 1)
            i += n
        elif code == DOUBLE:
            raw = bytearray(data[i : i + 8])
            if raw[0] & 0x80:
                raw[0] ^= 0x80
            else:
                raw = bytearray(b ^ 0xFF for b in raw)
            items.append(struct.unpack(">d", bytes(raw))[0])
            i += 8
        elif code in (FALSE, TRUE):
            items.append(code == TRUE)
        else:
            raise ValueError(f"unsupported tuple type code {code:#04x} at byte {i - 1}")
    return items
