"""HubSpot's rate limits, kept through the kit's shared limiter (hubspot.md §4).

* The burst limit is the shared limiter's budget from the first request: 110 requests per 10 s
  for OAuth (a public app), 100 for a private-app token (the lowest tier). The headers
  `X-HubSpot-RateLimit-Max` / `-Interval-Milliseconds` correct it (a higher tier): the budget is
  replaced, and every task pauses until HubSpot's window has refilled what its `-Remaining`
  says was used, so the new (full) budget and HubSpot's agree without a single 429.
* A response saying `X-HubSpot-RateLimit-Remaining: 0` (another integration sharing the
  account's budget) pauses every task for one request's share of the window.
* The search endpoints have a limit of their own (5 per second) and send no headers: searches
  are spaced here, before they reach the shared limiter.
* 429s themselves (with or without `Retry-After`) are the kit's: it pauses every task and
  retries. Waiting is made visible: a `connectorStatus` line says how much was waited and why,
  at most every `STATUS_EVERY` seconds.

The kit's `RequestBudget` applies to every request alike, so the search spacing and the header
handling live here (see the report of issue 14 for what the kit should offer instead).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

from estuary_cdk.http import HTTPSession, RequestBudget

SEARCH_PER_SECOND = 5.0
"""HubSpot's search limit: 5 requests per second per account (4 in older documents)."""

STATUS_EVERY = 30.0

_MAX = "X-HubSpot-RateLimit-Max"
_REMAINING = "X-HubSpot-RateLimit-Remaining"
_INTERVAL = "X-HubSpot-RateLimit-Interval-Milliseconds"


def _number(headers: Mapping[str, str], name: str) -> int | None:
    value = headers.get(name)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


class HubSpotLimits:
    """The connector's view of HubSpot's limits, shared by all of its tasks."""

    def __init__(
        self, http: HTTPSession, budget: RequestBudget, search_per_second: float = SEARCH_PER_SECOND
    ) -> None:
        self.http = http
        self.budget = budget
        limiter = getattr(http, "rate_limiter", None)
        if limiter is not None and budget not in limiter.budgets:
            limiter.set_budget(budget)
        self.search_interval = 1.0 / search_per_second
        self._next_search = 0.0
        self._search_lock = asyncio.Lock()
        self.search_waited = 0.0
        self.window_pauses = 0
        self._announced_at: float | None = None
        self._waited_at_announcement = 0.0

    # --- the general limit, from response headers ---------------------------------------------

    def observe(self, log: logging.Logger, headers: Mapping[str, str]) -> None:
        """Learn the burst limit from a response's headers, and pause when it is spent."""
        limit, interval = _number(headers, _MAX), _number(headers, _INTERVAL)
        remaining = _number(headers, _REMAINING)
        limiter = getattr(self.http, "rate_limiter", None)
        if not limit or not interval or limiter is None:
            return
        slot = interval / 1000.0 / limit
        budget = RequestBudget(limit, interval / 1000.0)
        if budget != self.budget:
            self.budget = budget
            limiter.set_budget(budget)
            used = limit - (remaining if remaining is not None else limit)
            log.info(
                "pacing requests at the rate limit HubSpot reports",
                {"requests": limit, "per_seconds": interval / 1000.0, "used": used},
            )
            if used > 0:
                limiter.pause(
                    log, used * slot, "the rate limit changed: waiting for HubSpot's window to refill"
                )
        elif remaining is not None and remaining <= 0:
            self.window_pauses += 1
            limiter.pause(log, slot, "X-HubSpot-RateLimit-Remaining is 0")
        self._maybe_announce(log)

    # --- the search limit ---------------------------------------------------------------------

    async def before_search(self, log: logging.Logger) -> None:
        """Wait for this search's slot: searches go out `1 / SEARCH_PER_SECOND` apart."""
        clock = self.http.clock
        async with self._search_lock:
            now = clock.monotonic()
            wait = self._next_search - now
            self._next_search = max(now, self._next_search) + self.search_interval
        if wait > 0:
            self.search_waited += wait
            await clock.sleep(wait)

    # --- visibility ---------------------------------------------------------------------------

    def waited(self) -> float:
        """Seconds every task waited on limits: the shared limiter's waits plus search spacing."""
        limiter = getattr(self.http, "rate_limiter", None)
        return (limiter.waited if limiter is not None else 0.0) + self.search_waited

    def _maybe_announce(self, log: logging.Logger) -> None:
        now = self.http.clock.monotonic()
        if self._announced_at is None:
            self._announced_at = now
            return
        if now - self._announced_at < STATUS_EVERY:
            return
        waited = self.waited()
        if waited - self._waited_at_announcement < 1.0:
            return
        limiter = getattr(self.http, "rate_limiter", None)
        sent = limiter.total if limiter is not None else 0
        refused = limiter.failed if limiter is not None else 0
        message = (
            f"waiting on HubSpot's rate limits: {waited - self._waited_at_announcement:.0f}s spent waiting in the "
            f"last {now - self._announced_at:.0f}s ({sent} requests so far, {refused} answered 429)"
        )
        event = getattr(log, "event", None)
        if event is not None:
            event.status(message)
        else:
            log.info(message)
        self._announced_at, self._waited_at_announcement = now, waited
