"""`HTTPLimits`: how much one response may cost, in memory and in waiting.

A hostile or broken API must not be able to exhaust a connector's memory or stall it without a
word: every buffered body has a size ceiling, every wait on the network a deadline, and every
ceiling ends in an error that names the URL and the figure that was exceeded. Long waits show
in the connector status while they last.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["HTTPLimits", "format_duration", "format_size"]

MiB = 1 << 20


@dataclass(frozen=True)
class HTTPLimits:
    """Ceilings on one attempt of a request (set `HTTPSession.limits`, per connector or per
    session; retries between attempts are bounded by `RetryPolicy`).

    Memory, for bodies read whole (`request`, `request_with_headers`):
    * `max_body_bytes`: the body, after decompression. A larger `Content-Length` is refused
      before reading, a body without one when it grows past the limit. Streams
      (`request_stream`, `request_lines`) have no size limit: they hold one chunk at a time, and
      are the way to read a body that is legitimately larger.
    * `max_compression_ratio`: a compressed body that grows more than this many times its
      compressed size is refused once it passed `ratio_check_after` bytes, so a gzip bomb stops
      after a few megabytes, long before the size limit.

    Time, per attempt (the loop's real clock: these are waits on the network):
    * `connect_timeout`: establishing the connection.
    * `headers_timeout`: from sending the request to the complete response headers.
    * `idle_timeout`: the longest gap between two pieces of a body (a server that stops
      mid-body).
    * `body_timeout`: the total time spent waiting for the pieces of a body read whole (a body
      that drips a byte at a time never hits `idle_timeout`). `stream_timeout` is the same for a
      streamed body; time the consumer spends between chunks does not count.

    A wait longer than `status_after` is announced as a connector status event, so a user can
    tell a slow server from a hang.
    """

    max_body_bytes: int = 32 * MiB
    max_compression_ratio: float = 100.0
    ratio_check_after: int = 1 * MiB
    connect_timeout: float = 30.0
    headers_timeout: float = 300.0
    idle_timeout: float = 60.0
    body_timeout: float = 600.0
    stream_timeout: float = 3600.0
    status_after: float = 30.0

    def __post_init__(self) -> None:
        for name in ("max_body_bytes", "max_compression_ratio", "ratio_check_after"):
            if getattr(self, name) <= 0:
                raise ValueError(f"HTTPLimits.{name} must be positive")
        for name in ("connect_timeout", "headers_timeout", "idle_timeout", "body_timeout", "stream_timeout"):
            if getattr(self, name) <= 0:
                raise ValueError(f"HTTPLimits.{name} must be a positive number of seconds")


def format_duration(seconds: float) -> str:
    """A duration for people: "0.25 s", "45 s", "2 min 5 s", "10 min", "1 h", "27 h 46 min"."""
    if seconds < 10:
        return f"{seconds:.3g} s"
    if seconds < 120:
        return f"{seconds:.0f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def format_size(size: int) -> str:
    """A byte count for people: "512 bytes", "1.5 KiB", "64 MiB", "2.1 GiB"."""
    if size < 1024:
        return f"{size} bytes"
    value = float(size)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        value /= 1024
        if value < 1024 or unit == "TiB":
            return f"{value:.3g} {unit}"
    raise AssertionError("unreachable")
