"""A thread-safe log of the requests a local test server received."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

from multidict import CIMultiDict, MultiDict


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server saw it. `fault` names the injected fault that answered it
    (`None` when the application handled it normally); `at` is `time.monotonic()` on arrival."""

    method: str
    path: str
    query: MultiDict[str]
    headers: CIMultiDict[str]
    body: bytes
    at: float
    fault: str | None = None

    @property
    def path_qs(self) -> str:
        """The path with its query string, as the client sent it."""
        if not self.query:
            return self.path
        return self.path + "?" + "&".join(f"{k}={v}" for k, v in self.query.items())


@dataclass
class RequestLog:
    """Requests in arrival order. Appended by the server (possibly from its own thread),
    read by tests."""

    _items: list[RecordedRequest] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def append(self, request: RecordedRequest) -> None:
        with self._lock:
            self._items.append(request)

    def snapshot(self) -> list[RecordedRequest]:
        """A copy of every request so far."""
        with self._lock:
            return list(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def matching(
        self, path: str | re.Pattern[str] | None = None, method: str | None = None
    ) -> list[RecordedRequest]:
        """Requests whose path equals `path` (or fully matches the regex) and whose method is
        `method` (case-insensitive); `None` matches anything."""
        return [r for r in self.snapshot() if _matches(r.path, r.method, path, method)]

    def count(self, path: str | re.Pattern[str] | None = None, method: str | None = None) -> int:
        return len(self.matching(path, method))

    def paths(self) -> list[str]:
        """`path_qs` of every request, in order: handy for asserting exact request sequences."""
        return [r.path_qs for r in self.snapshot()]

    def faults(self) -> list[str | None]:
        """The injected fault (or `None`) for every request, in order."""
        return [r.fault for r in self.snapshot()]

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def __iter__(self) -> Iterator[RecordedRequest]:
        return iter(self.snapshot())

    def __getitem__(self, index: int) -> RecordedRequest:
        with self._lock:
            return self._items[index]


def _matches(
    path: str, method: str, want_path: str | re.Pattern[str] | None, want_method: str | None
) -> bool:
    if want_method is not None and method.upper() != want_method.upper():
        return False
    if want_path is None:
        return True
    if isinstance(want_path, re.Pattern):
        return want_path.fullmatch(path) is not None
    return path == want_path
