"""Gazette message UUIDs (v1 UUIDs, flow-protocol §6.3): a producer id, a clock and transaction
flags, written at a collection's `uuidPtr`. `flow_published_at` is the clock's time.

Layout: the clock is the RFC 4122 60-bit timestamp (100 ns intervals since 1582-10-15) shifted
left by 4, its low 4 bits a sequence counter. The UUID carries the timestamp in its time
fields (version 1), the counter in the top 4 bits of the 14-bit clock sequence, the 10 flag
bits below it (variant bits 10), and the producer as the 6-byte node."""

from __future__ import annotations

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
    raw = (
        time_low.to_bytes(4, "big")
        + time_mid.to_bytes(2, "big")
        + time_high.to_bytes(2, "big")
        + sequence.to_bytes(2, "big")
        + producer
    )
    return str(uuid.UUID(bytes=raw))


def parse(text: str) -> tuple[bytes, int, int]:
    """(producer, clock, flags) of a v1 UUID; ValueError for anything else."""
    u = uuid.UUID(text)
    if u.version != 1:
        raise ValueError(f"UUID {text} is not a v1 UUID")
    raw = u.bytes
    clock = (u.time << 4) | ((raw[8] >> 2) & 0x0F)
    flags = ((raw[8] & 0x03) << 8) | raw[9]
    return raw[10:], clock, flags


def published_at(text: str) -> str:
    """The UUID's time as RFC 3339 in UTC with nanoseconds (what `flow_published_at` holds)."""
    _, clock, _ = parse(text)
    ticks = max(0, (clock >> 4) - G1582_NS100)
    seconds, rest = divmod(ticks, 10_000_000)
    nanos = rest * 100 + ((clock & 0x0F) << 2)
    stamp = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{nanos:09d}Z"


def fixture_uuid(txn: int, offset: int) -> str:
    """The UUID preview gives the `offset`-th document of fixture transaction `txn`: published
    at 3600·txn + offset seconds after the epoch, like the runtime's fixture reader."""
    return build(FIXTURE_PRODUCER, clock_from_unix(3600 * txn + offset))
