"""Packed tuples: the FoundationDB tuple encoding in which the runtime sends keys and values
(`keyPacked`, `valuesPacked`; flow-protocol §3.8).

Flow packs each JSON value as one element: null → Nil (0x00), false/true → 0x26/0x27, integers →
Int (0x14 ± length, big-endian, one's complement for negatives; 0x0b/0x1d beyond eight bytes),
floats → Double (0x21, IEEE big-endian with the sign transform), strings → String (0x02, UTF-8,
0x00 escaped as 0x00 0xFF, terminated by 0x00), objects and arrays → Bytes (0x01) of their
compact JSON. `unpack` returns those elements as a tuple of Python values, objects and arrays as
the `bytes` of their JSON.

`unpack` is the hot path of every Store and Load: a C implementation (`_packed_c`, built when the
kit is installed, if a compiler is there) is used when available; this module's Python is the
reference it is tested against, and the fallback.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["PackedError", "pack", "unpack", "unpack_py", "using_c"]

_NIL, _BYTES, _STRING = 0x00, 0x01, 0x02
_NEG_ARBITRARY, _INT_ZERO, _POS_ARBITRARY = 0x0B, 0x14, 0x1D
_FLOAT, _DOUBLE = 0x20, 0x21
_FALSE, _TRUE = 0x26, 0x27

_double = struct.Struct(">d")
_single = struct.Struct(">f")


class PackedError(ValueError):
    """Bytes that are not a valid packed tuple. The message says what and at which offset."""


def _escaped(raw: bytes) -> bytes:
    return raw.replace(b"\x00", b"\x00\xff")


def _pack_int(value: int, out: bytearray) -> None:
    if value == 0:
        out.append(_INT_ZERO)
        return
    magnitude = abs(value)
    size = (magnitude.bit_length() + 7) // 8
    if value > 0:
        if size <= 8:
            out.append(_INT_ZERO + size)
        else:
            out += bytes((_POS_ARBITRARY, size))
        out += magnitude.to_bytes(size, "big")
        return
    ones = ((1 << (8 * size)) - 1) ^ magnitude  # one's complement of the magnitude
    if size <= 8:
        out.append(_INT_ZERO - size)
    else:
        out += bytes((_NEG_ARBITRARY, size ^ 0xFF))
    out += ones.to_bytes(size, "big")


def _pack_double(value: float, out: bytearray) -> None:
    raw = bytearray(_double.pack(value))
    if raw[0] & 0x80:
        raw = bytearray(b ^ 0xFF for b in raw)
    else:
        raw[0] ^= 0x80
    out.append(_DOUBLE)
    out += raw


def pack(values: Iterable[Any]) -> bytes:
    """Pack JSON values (None, bool, int, float, str, and bytes for the JSON text of an object or
    array, or a dict/list which is serialized compactly) the way Flow does."""
    out = bytearray()
    for value in values:
        if value is None:
            out.append(_NIL)
        elif value is True:
            out.append(_TRUE)
        elif value is False:
            out.append(_FALSE)
        elif isinstance(value, int):
            _pack_int(value, out)
        elif isinstance(value, float):
            _pack_double(value, out)
        elif isinstance(value, str):
            out.append(_STRING)
            out += _escaped(value.encode())
            out.append(_NIL)
        elif isinstance(value, bytes | bytearray):
            out.append(_BYTES)
            out += _escaped(bytes(value))
            out.append(_NIL)
        elif isinstance(value, dict | list):
            import orjson

            out.append(_BYTES)
            out += _escaped(orjson.dumps(value))
            out.append(_NIL)
        else:
            raise TypeError(f"cannot pack a value of type {type(value).__name__}")
    return bytes(out)


def _terminated(data: bytes, start: int) -> tuple[bytes, int]:
    """The unescaped bytes of the element whose payload starts at `start`, and the offset after
    its terminator."""
    end = data.find(b"\x00", start)
    n = len(data)
    if end >= 0 and (end + 1 >= n or data[end + 1] != 0xFF):
        return data[start:end], end + 1
    parts = []
    pos = start
    while end >= 0:
        if end + 1 < n and data[end + 1] == 0xFF:
            parts.append(data[pos : end + 1])
            pos = end + 2
            end = data.find(b"\x00", pos)
            continue
        parts.append(data[pos:end])
        return b"".join(parts), end + 1
    raise PackedError(f"unterminated string or bytes element at offset {start - 1}")


def _unflip(raw: bytes) -> bytes:
    """Undo the sign transform of a packed float: positive values had their sign bit set,
    negative ones every bit flipped (so that byte order is numeric order)."""
    if raw[0] & 0x80:
        return bytes((raw[0] ^ 0x80,)) + raw[1:]
    return bytes(b ^ 0xFF for b in raw)


def unpack_py(data: bytes) -> tuple[Any, ...]:
    """The pure-Python reference implementation of `unpack`."""
    out: list[Any] = []
    append = out.append
    pos, n = 0, len(data)
    while pos < n:
        code = data[pos]
        pos += 1
        if code == _STRING:
            start = pos - 1
            raw, pos = _terminated(data, pos)
            try:
                append(raw.decode())
            except UnicodeDecodeError:
                raise PackedError(f"string element is not UTF-8 at offset {start}") from None
        elif _INT_ZERO < code <= _INT_ZERO + 8:
            end = pos + code - _INT_ZERO
            if end > n:
                raise PackedError(f"truncated integer element at offset {pos - 1}")
            append(int.from_bytes(data[pos:end], "big"))
            pos = end
        elif code == _INT_ZERO:
            append(0)
        elif code == _NIL:
            append(None)
        elif _INT_ZERO - 8 <= code < _INT_ZERO:
            size = _INT_ZERO - code
            end = pos + size
            if end > n:
                raise PackedError(f"truncated integer element at offset {pos - 1}")
            append(int.from_bytes(data[pos:end], "big") - (1 << (8 * size)) + 1)
            pos = end
        elif code == _DOUBLE:
            end = pos + 8
            if end > n:
                raise PackedError(f"truncated double element at offset {pos - 1}")
            append(_double.unpack(_unflip(data[pos:end]))[0])
            pos = end
        elif code == _BYTES:
            raw, pos = _terminated(data, pos)
            append(raw)
        elif code == _TRUE:
            append(True)
        elif code == _FALSE:
            append(False)
        elif code in (_POS_ARBITRARY, _NEG_ARBITRARY):
            if pos >= n:
                raise PackedError(f"truncated integer element at offset {pos - 1}")
            size = data[pos] if code == _POS_ARBITRARY else data[pos] ^ 0xFF
            end = pos + 1 + size
            if end > n:
                raise PackedError(f"truncated integer element at offset {pos - 1}")
            magnitude = int.from_bytes(data[pos + 1 : end], "big")
            append(magnitude if code == _POS_ARBITRARY else magnitude - (1 << (8 * size)) + 1)
            pos = end
        elif code == _FLOAT:
            end = pos + 4
            if end > n:
                raise PackedError(f"truncated float element at offset {pos - 1}")
            append(_single.unpack(_unflip(data[pos:end]))[0])
            pos = end
        else:
            raise PackedError(f"unsupported tuple element type 0x{code:02x} at offset {pos - 1}")
    return tuple(out)


_unpack_c: Callable[[bytes], tuple[Any, ...]] | None
try:
    from ._packed_c import set_error_class as _set_error_class
    from ._packed_c import unpack as _unpack_c
except ImportError:  # no compiler when the kit was installed: the Python reference serves
    _unpack_c = None
else:
    _set_error_class(PackedError)


def using_c() -> bool:
    """Whether `unpack` is the C implementation."""
    return _unpack_c is not None


unpack = _unpack_c if _unpack_c is not None else unpack_py
"""Unpack a packed tuple into a tuple of Python values (see the module docstring)."""
