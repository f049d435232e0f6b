"""Durations written the way Flow (humantime / Go) writes them: `10s`, `1m`, `500ms`, `1h30m`."""

from __future__ import annotations

import re

from .errors import UsageError

_UNITS: dict[str, float] = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "sec": 1.0,
    "secs": 1.0,
    "m": 60.0,
    "min": 60.0,
    "mins": 60.0,
    "h": 3600.0,
    "hr": 3600.0,
    "d": 86400.0,
}
_PART = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-zµ]+)\s*")
_ISO = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$")


def parse_duration(text: str) -> float:
    """Seconds in `text`. Also accepts ISO-8601 (`PT5M`) since resource configs use it."""
    raw = text.strip()
    iso = _ISO.match(raw)
    if iso and raw != "P":
        d, h, m, s = iso.groups()
        return int(d or 0) * 86400 + int(h or 0) * 3600 + int(m or 0) * 60 + float(s or 0)
    if raw == "0":
        return 0.0
    if raw.isdigit():
        raise UsageError(f"invalid duration {text!r}: a unit is required (e.g. {raw}s, {raw}ms, {raw}m)")
    total = 0.0
    pos = 0
    for match in _PART.finditer(raw):
        if match.start() != pos:
            break
        unit = _UNITS.get(match.group(2))
        if unit is None:
            raise UsageError(f"invalid duration {text!r}: unknown unit {match.group(2)!r}")
        total += float(match.group(1)) * unit
        pos = match.end()
    if pos != len(raw) or not raw:
        raise UsageError(f"invalid duration {text!r}: expected e.g. 10s, 1m, 500ms, 1h30m")
    return total
