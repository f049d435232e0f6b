"""Gazette message UUIDs (v1 UUIDs, flow-protocol §6.3): a producer id, a clock and transaction
flags, written at a collection's `uuidPtr`. `flow_published_at` is the clock's time.

Layout: the clock is the RFC 4122 60-bit timestamp (100 ns intervals since 1582-10-15) shifted
left by 4, its low 4 bits a sequence counter. The UUID carries the timestamp in its time
fields (version 1), the counter in the top 4 bits of the 14-bit clock sequence, the 10 flag
bits below it (variant bits 10), and the producer as the 6-byte node."""

from __future__ import annotations

import functools
import uuid
from datetime import UTC, datetime

G1582_NS100 = 122_192_928_000_000_000  # 100 ns intervals from 1582-10-15 to 1970-01-01
# The producer of preview fixtures' documents (multicast bit set: not a real MAC address).
FIXTURE_PRODUCER = bytes([0x07, 0x13, 0x53, 0x03, 0x03, 0x11])


def clock_from_unix(seconds: int, nanos: int = 0) -> int:
    return (seconds * 10_000_000 + nanos // 100 + G1582_NS100) << 4


def build(producer: bytes, clock: int, flags: int = 0) -> str:
    """The hyphenated v1 UUID of a producer, clock and flags."""
    if len(producer) != 6 or not producer[0] & 0x01:
        raise ValueError("a producer is 6 bytes with the multicast bit set")
    if not 0 <= flags <= 0x3FF:
        raise ValueError("only the 10 low bits may be flags")
    time_low = (clock >> 4) & 0xFFFFFFFF
    time_mid = (clock >> 36) & 0xFFFF
    time_high = ((clock >> 52) & 0x0FFF) | 0x1000
    sequence = ((clock << 10) & 0x3C00) | flags | 0x8000
    # Formatted by hand: this runs for every captured document.
    h = f"{time_low:08x}{time_mid:04x}{time_high:04x}{sequence:04x}{producer.hex()}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def parse(text: str) -> tuple[bytes, int, int]:
    """(producer, clock, flags) of a v1 UUID; ValueError for anything else."""
    h = text.replace("-", "") if len(text) == 36 else uuid.UUID(text).hex
    if len(h) != 32 or text.count("-") not in (0, 4):
        raise ValueError(f"badly formed UUID {text!r}")
    value = int(h, 16)  # ValueError when not hex
    if (value >> 76) & 0xF != 1:
        raise ValueError(f"UUID {text} is not a v1 UUID")
    time_low, time_mid, time_high = value >> 96, (value >> 80) & 0xFFFF, (value >> 64) & 0x0FFF
    sequence = (value >> 48) & 0xFFFF
    clock = (((time_high << 48) | (time_mid << 32) | time_low) << 4) | ((sequence >> 10) & 0x0F)
    return (value & 0xFFFFFFFFFFFF).to_bytes(6, "big"), clock, sequence & 0x3FF


@functools.lru_cache(maxsize=256)
def _day(days: int) -> str:
    return datetime.fromtimestamp(days * 86400, UTC).strftime("%Y-%m-%d")


def _second(seconds: int) -> str:
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    return f"{_day(days)}T{hours:02d}:{rest // 60:02d}:{rest % 60:02d}"


def published_at(text: str) -> str:
    """The UUID's time as RFC 3339 in UTC with nanoseconds (what `flow_published_at` holds)."""
    _, clock, _ = parse(text)
    ticks = max(0, (clock >> 4) - G1582_NS100)
    seconds, rest = divmod(ticks, 10_000_000)
    nanos = rest * 100 + ((clock & 0x0F) << 2)
    return f"{_second(seconds)}.{nanos:09d}Z"


def fixture_uuid(txn: int, offset: int) -> str:
    """The UUID preview gives the `offset`-th document of fixture transaction `txn`: published
    at 3600·txn + offset seconds after the epoch, like the runtime's fixture reader."""
    return build(FIXTURE_PRODUCER, clock_from_unix(3600 * txn + offset))
