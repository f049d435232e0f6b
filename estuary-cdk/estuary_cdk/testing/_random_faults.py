"""Faults at a rate: a seeded share of a fake API's requests answered with a server error.

`FaultPlan` scripts faults request by request ("the next 3 calls get a 502"); production APIs
fail at random ("5% of calls time out or 500 across a long backfill"). `RandomFaults` is the
second kind, seeded so a failing test can be replayed, as an aiohttp middleware the fake adds
to its application before it is served.
"""

from __future__ import annotations

import random
import re
import threading
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence

from aiohttp import web
from aiohttp.typedefs import Middleware

__all__ = ["RandomFaults"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_HTML = "<html><head><title>{status}</title></head><body><h1>{status} Server Error</h1></body></html>"


class RandomFaults:
    """Answer each request whose path matches `path` (a regex, `fullmatch`; None: every path
    except those starting with `/_`, a fake's control API) with one of `statuses`, chosen at
    random, with probability `rate`. Bodies alternate between JSON and HTML, as a load balancer
    in front of an API answers with either. `seed` makes the sequence repeatable for a given
    order of requests. Change `rate` at any time (0 switches it off).

        faults = RandomFaults(rate=0.05, seed=7)
        app = web.Application(middlewares=[faults.middleware])

    `injected` counts the faults by status; `seen` counts the requests it considered.
    """

    def __init__(
        self,
        rate: float = 0.0,
        statuses: Sequence[int] = (500, 502, 504),
        *,
        seed: int = 0,
        path: str | re.Pattern[str] | None = None,
    ) -> None:
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"fault rate must be within [0, 1], not {rate}")
        self.rate = rate
        self.statuses = tuple(statuses)
        self.path = re.compile(path) if isinstance(path, str) else path
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.injected: Counter[int] = Counter()
        self.seen = 0

    def _matches(self, path: str) -> bool:
        if self.path is None:
            return not path.startswith("/_")
        return self.path.fullmatch(path) is not None

    def _draw(self) -> int | None:
        with self._lock:
            self.seen += 1
            if self.rate <= 0 or self._rng.random() >= self.rate:
                return None
            status = self._rng.choice(self.statuses)
            self.injected[status] += 1
            return status

    @property
    def middleware(self) -> Middleware:
        @web.middleware
        async def random_faults(request: web.Request, handler: Handler) -> web.StreamResponse:
            if not self._matches(request.path):
                return await handler(request)
            status = self._draw()
            if status is None:
                return await handler(request)
            if sum(self.injected.values()) % 2:
                return web.json_response(
                    {"status": "error", "message": "internal error", "category": "INTERNAL_ERROR"},
                    status=status,
                )
            return web.Response(status=status, text=_HTML.format(status=status), content_type="text/html")

        return random_faults
