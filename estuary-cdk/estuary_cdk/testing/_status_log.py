"""What a fake API answered: the status of every response, for assertions such as "no request
got a 401", "no search got a 400" or "429s were under 1% of requests".

`RequestLog` records requests as they arrive (before the application answers); `StatusLog`
records what the application and the middlewares inside it answered, as an aiohttp middleware
the fake adds to its application.
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Middleware

__all__ = ["AnsweredRequest", "StatusLog"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class AnsweredRequest:
    method: str
    path: str
    status: int
    at: float  # time.monotonic() when the answer was ready


class StatusLog:
    """Every response's status, in order (paths starting with `ignore_prefix`, a control API,
    are left out). Put its `middleware` first in the application's list to see the statuses of
    the middlewares after it (rate limiters, random faults) too."""

    def __init__(self, ignore_prefix: str = "/_") -> None:
        self.ignore_prefix = ignore_prefix
        self._items: list[AnsweredRequest] = []
        self._lock = threading.Lock()

    @property
    def middleware(self) -> Middleware:
        @web.middleware
        async def status_log(request: web.Request, handler: Handler) -> web.StreamResponse:
            try:
                response = await handler(request)
            except web.HTTPException as exc:
                self._record(request, exc.status)
                raise
            self._record(request, response.status)
            return response

        return status_log

    def _record(self, request: web.Request, status: int) -> None:
        if self.ignore_prefix and request.path.startswith(self.ignore_prefix):
            return
        with self._lock:
            self._items.append(AnsweredRequest(request.method, request.path, status, time.monotonic()))

    def snapshot(self) -> list[AnsweredRequest]:
        with self._lock:
            return list(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def statuses(self, path: str | re.Pattern[str] | None = None) -> Counter[int]:
        """How many responses had each status (of requests whose path matches, if given)."""
        return Counter(a.status for a in self.snapshot() if _matches(a.path, path))

    def count(self, status: int | None = None, path: str | re.Pattern[str] | None = None) -> int:
        return sum(
            1 for a in self.snapshot() if (status is None or a.status == status) and _matches(a.path, path)
        )

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)


def _matches(path: str, want: str | re.Pattern[str] | None) -> bool:
    if want is None:
        return True
    if isinstance(want, re.Pattern):
        return want.fullmatch(path) is not None
    return path == want
