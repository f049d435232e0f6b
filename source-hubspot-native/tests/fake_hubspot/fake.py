"""`FakeHubSpot`: the fake account (data, credentials, limits and knobs) that `make_app` serves.

Tests hold one and change it while the server runs: move its clock, mutate records, switch
limits and faults on, script a change to happen when a given request arrives.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from estuary_cdk.testing import (
    ApiClock,
    BucketLimit,
    FakeTokens,
    RandomFaults,
    RateBuckets,
    StatusLog,
    TimeSource,
)

from .catalog import DEFAULT_SCOPES
from .dataset import Marketing, Sizes, build_crm, build_marketing
from .store import CrmStore

PRIVATE_APP_TOKEN = "pat-na1-fake-private-app-token"
CLIENT_ID = "fake-client-id"
CLIENT_SECRET = "fake-client-secret"
REFRESH_TOKEN = "fake-refresh-token"

GENERAL_LIMIT = BucketLimit(110, 10.0)
SEARCH_LIMIT = BucketLimit(5, 1.0)
"""HubSpot's documented limits for a public app (hubspot.md §4.1)."""


@dataclass
class Knobs:
    """Behaviours a scenario switches on (hubspot.md §6.1-6.3)."""

    recent_lag_ms: int = 0
    """The legacy recent-change APIs hide rows modified less than this long ago (#1861)."""
    misorder_rate: float = 0.0
    misorder_max_ms: int = 0
    """A share of search results sorted up to this much later than their timestamp (#4595, #5180)."""
    stale_body: bool = False
    """Search rows keep their indexed (stale) sort slot but show the current body (#2210)."""
    max_url_bytes: int = 8000
    """Longer request URLs get a 414 (hubspot.md §5, Airbyte #33976)."""
    assoc_page_size: int = 500
    """v4 association batch reads page each source's targets after this many."""
    extra_fields: bool = False
    """Every object carries fields no model declares (the connector must keep them)."""
    retry_after_every: int = 2
    """One 429 in this many carries a Retry-After header (0: none do)."""
    daily_cap: int | None = None
    """Private-app tokens get a DAILY 429 after this many requests."""
    ms_per_request: int = 0
    """Server time each API request takes (a long backfill in a test's instant)."""


@dataclass
class Hook:
    """Run `action` when a request whose path matches `path` (and whose query contains `query`,
    if given) arrives, after `skip` earlier matches, `times` times."""

    path: re.Pattern[str]
    action: Callable[[], None]
    query: dict[str, str] = field(default_factory=dict)
    skip: int = 0
    times: int = 1


class FakeHubSpot:
    """The account: CRM store, marketing data, credentials, rate limits, faults and knobs.

    `clock` defaults to real time (a connector process reads the system clock); pass a
    `TimeSource` (e.g. the `FakeClock` of an in-process HTTP session) to share one.
    """

    def __init__(
        self,
        seed: int = 7,
        sizes: Sizes | None = None,
        *,
        clock: TimeSource | None = None,
        expires_in: float = 1800.0,
        limits: bool = False,
        scopes: frozenset[str] = DEFAULT_SCOPES,
    ) -> None:
        self.seed = seed
        self.sizes = sizes or Sizes()
        self.clock = ApiClock(clock)
        self.crm: CrmStore = build_crm(self.clock, self.sizes, seed)
        self.marketing: Marketing = build_marketing(
            self.sizes, seed, sorted(self.crm.types["contacts"].records)
        )
        self.marketing_lock = threading.RLock()
        self.knobs = Knobs()
        self.tokens = FakeTokens(self.clock, expires_in=expires_in)
        self.tokens.add_static(PRIVATE_APP_TOKEN, scopes)
        self.tokens.add_client(CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN, scopes)
        self.buckets = RateBuckets(clock=self.clock)
        self.set_limits(limits)
        self.random_faults = RandomFaults(seed=seed)
        self.status_log = StatusLog()
        self.daily_used: dict[str, int] = {}
        self._hooks: list[Hook] = []
        self._hooks_lock = threading.Lock()

    def set_limits(
        self, on: bool, general: BucketLimit = GENERAL_LIMIT, search: BucketLimit = SEARCH_LIMIT
    ) -> None:
        """Switch HubSpot's rate limits on (the documented numbers, unless given) or off."""
        self.buckets.set_limit("general", general if on else None)
        self.buckets.set_limit("search", search if on else None)

    def set_scopes(self, scopes: frozenset[str] | set[str]) -> None:
        self.tokens.set_scopes(scopes)

    def on_request(
        self,
        path: str,
        action: Callable[[], None],
        *,
        query: dict[str, str] | None = None,
        skip: int = 0,
        times: int = 1,
    ) -> Hook:
        hook = Hook(re.compile(path), action, dict(query or {}), skip, times)
        with self._hooks_lock:
            self._hooks.append(hook)
        return hook

    def run_hooks(self, path: str, query: dict[str, str]) -> None:
        due: list[Callable[[], None]] = []
        with self._hooks_lock:
            for hook in self._hooks:
                if hook.times <= 0 or not hook.path.fullmatch(path):
                    continue
                if any(query.get(k) != v for k, v in hook.query.items()):
                    continue
                if hook.skip > 0:
                    hook.skip -= 1
                    continue
                hook.times -= 1
                due.append(hook.action)
        for action in due:
            action()

    # --- conveniences for tests ---------------------------------------------------------------

    def ids(self, object_name: str) -> list[int]:
        with self.crm.lock:
            return sorted(self.crm.types[object_name].records)

    def remove_owner(self, owner_id: str) -> None:
        with self.marketing_lock:
            self.marketing.owners = [o for o in self.marketing.owners if o["id"] != owner_id]
