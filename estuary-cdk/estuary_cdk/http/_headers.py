"""Reading rate-limit hints from response headers."""

from __future__ import annotations

import re
from collections.abc import Mapping
from email.utils import parsedate_to_datetime

# Reset values above these are absolute epoch times rather than delays.
_EPOCH_SECONDS = 1_000_000_000
_EPOCH_MILLIS = 1_000_000_000_000

_STRUCTURED_T = re.compile(r"(?:^|;)\s*t=(\d+(?:\.\d+)?)")


def _number(value: str) -> float | None:
    try:
        return float(value.strip())
    except ValueError:
        return None


def parse_retry_after(value: str, now: float) -> float | None:
    """Seconds to wait per a `Retry-After` value: delay-seconds or an HTTP date."""
    seconds = _number(value)
    if seconds is not None:
        return max(0.0, seconds)
    try:
        when = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - now)


def parse_reset(value: str, now: float) -> float | None:
    """Seconds to wait per a `*RateLimit-Reset` value, which APIs send as a delay in seconds
    (the IETF draft, most APIs), epoch seconds (GitHub) or epoch milliseconds."""
    number = _number(value)
    if number is None:
        return parse_retry_after(value, now)
    if number >= _EPOCH_MILLIS:
        return max(0.0, number / 1000.0 - now)
    if number >= _EPOCH_SECONDS:
        return max(0.0, number - now)
    return max(0.0, number)


def server_wait(headers: Mapping[str, str], now: float) -> float | None:
    """How long the server asks us to wait, from the first header that says so: `Retry-After`,
    `RateLimit-Reset`, `X-RateLimit-Reset`, or the `t=` of a structured `RateLimit` header."""
    value = headers.get("Retry-After")
    if value is not None and (wait := parse_retry_after(value, now)) is not None:
        return wait
    for name in ("RateLimit-Reset", "X-RateLimit-Reset", "X-Rate-Limit-Reset"):
        value = headers.get(name)
        if value is not None and (wait := parse_reset(value, now)) is not None:
            return wait
    value = headers.get("RateLimit")
    if value is not None and (match := _STRUCTURED_T.search(value)):
        return float(match.group(1))
    return None


def server_wait_header(headers: Mapping[str, str]) -> str | None:
    """The header `server_wait` would take its wait from, as "Name: value" (for messages)."""
    for name in ("Retry-After", "RateLimit-Reset", "X-RateLimit-Reset", "X-Rate-Limit-Reset", "RateLimit"):
        value = headers.get(name)
        if value is not None:
            return f"{name}: {value}"
    return None


def budget_exhausted(headers: Mapping[str, str]) -> bool:
    """Whether a successful response says no requests remain in the current window."""
    for name in ("RateLimit-Remaining", "X-RateLimit-Remaining", "X-Rate-Limit-Remaining"):
        value = headers.get(name)
        if value is not None:
            number = _number(value)
            return number is not None and number <= 0
    value = headers.get("RateLimit")
    if value is not None and (match := re.search(r"(?:^|;)\s*r=(\d+)", value)):
        return int(match.group(1)) <= 0
    return False
