"""Named hostile-API scenarios for a `FaultPlan`: what a fake API (or the fault proxy in front of
one) does to a connector in one word, so every connector's tests can meet the same storms.

    apply_preset(server.faults, "429-storm")                         # the next 30 requests
    apply_preset(server.faults, "gzip-bomb", path="/v1/items", times=1)
    serve_proxy(api.url, preset="redirect-loop")

Each preset applies to `times` matching requests (its default below; `None` = all of them) of
`path` (exact, a compiled regex, or None for any) and `method`, and returns the rules it added.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from ._faults import CutBody, Fault, FaultPlan, FaultRule, PathMatcher, SlowBody, Status
from ._hostile import Disconnect, GzipBomb, HugeBody

__all__ = ["PRESETS", "Preset", "apply_preset"]

INVALID_JSON = b'{"items": [{"id": 1, "name": "cut here'
"""A 200 whose body is not JSON (a proxy's error page and a truncated document look alike)."""

_Add = Callable[[FaultPlan, PathMatcher, str | None, int | None], list[FaultRule]]


@dataclass(frozen=True)
class Preset:
    """A scenario: `description` says what a client meets, `times` how many matching requests
    it applies to by default (None: all of them)."""

    name: str
    description: str
    times: int | None
    add: _Add


def _one(fault: Fault) -> _Add:
    """A preset of one fault applied to `times` requests."""

    def add(plan: FaultPlan, path: PathMatcher, method: str | None, times: int | None) -> list[FaultRule]:
        return [plan.add(fault, path=path, method=method, times=times)]

    return add


def _cycle(*faults: Fault) -> _Add:
    """Faults taken in turn, request after request (a burst of different errors)."""

    def add(plan: FaultPlan, path: PathMatcher, method: str | None, times: int | None) -> list[FaultRule]:
        count = times if times is not None else len(faults)
        return [plan.add(faults[i % len(faults)], path=path, method=method, times=1) for i in range(count)]

    return add


def _rate_limited(retry_after: str | None) -> Status:
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    return Status(429, headers, b'{"error": "rate limited"}')


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(
            "429-storm",
            "429 Too Many Requests without Retry-After: the client chooses its own backoff",
            30,
            _one(_rate_limited(None)),
        ),
        Preset(
            "429-storm-retry-after",
            "429 with Retry-After: 1 (seconds): the client must wait as told",
            30,
            _one(_rate_limited("1")),
        ),
        Preset(
            "5xx-burst",
            "500, 502, 503 and 504 in turn: transient server errors",
            8,
            _cycle(*(Status(s, {}, f"upstream error {s}".encode()) for s in (500, 502, 503, 504))),
        ),
        Preset(
            "resets",
            "connections reset: before any answer, and mid-body after the headers",
            6,
            _cycle(Disconnect("abort"), CutBody(16, "abort")),
        ),
        Preset(
            "truncated",
            "the body cut short (a clean close before Content-Length bytes)",
            5,
            _one(CutBody(16, "close")),
        ),
        Preset(
            "dripping",
            "the body dripping one byte every 0.5 s: only a total-read deadline ends it",
            1,
            _one(SlowBody(0.5, 1)),
        ),
        Preset(
            "stalled-body",
            "the headers and 16 bytes, then nothing for an hour",
            1,
            _one(CutBody(16, "stall", 3600.0)),
        ),
        Preset(
            "huge",
            "a 200 whose JSON body is 256 MiB (chunked, no Content-Length)",
            1,
            _one(HugeBody(256 << 20)),
        ),
        Preset(
            "gzip-bomb",
            "a 200 whose gzip body inflates to 4 GiB (about a thousand times its size)",
            1,
            _one(GzipBomb(4 << 30)),
        ),
        Preset(
            "invalid-json",
            "a 200 with Content-Type application/json whose body is not JSON",
            1,
            _one(Status(200, {"Content-Type": "application/json"}, INVALID_JSON)),
        ),
        Preset(
            "redirect-loop",
            "302 to the same URL, forever: a client that follows redirects never gets an answer",
            None,
            _one(Status(302, {"Location": "?redirect-loop"}, b"")),
        ),
    )
}


class _Default(enum.Enum):
    TIMES = "the preset's own count"


def apply_preset(
    plan: FaultPlan,
    name: str,
    *,
    path: PathMatcher = None,
    method: str | None = None,
    times: int | Literal[_Default.TIMES] | None = _Default.TIMES,
) -> list[FaultRule]:
    """Add the preset `name` to `plan` for `times` requests (default: the preset's) of `path`
    and `method`. Unknown names raise KeyError listing the presets."""
    preset = PRESETS.get(name)
    if preset is None:
        raise KeyError(f"no fault preset {name!r}; presets: {', '.join(PRESETS)}")
    count = preset.times if times is _Default.TIMES else times
    return preset.add(plan, path, method, count)
