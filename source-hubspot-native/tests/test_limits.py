"""HubSpot's rate limits, faults and token expiry against the fake (hubspot.md §4, §6.3; §6.4
#10, #11), in-process on one `FakeClock`: the connector's waits advance the fake's time, so the
fake's buckets refill and its tokens expire exactly as they would, without real waiting."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from estuary_cdk.http import RequestBudget
from estuary_cdk.testing import BucketLimit, FakeClock, capture_logger
from fake_hubspot import FakeHubSpot, Sizes
from flow import OAUTH
from harness import LOG, TYPES, Connected, backfill, collect, connected
from source_hubspot_native.api import dual
from source_hubspot_native.api.client import PUBLIC_APP_BUDGET
from source_hubspot_native.api.search import search_changes

BIGGER = Sizes(contacts=4_000, deals=3_000, engagements=4_000)
"""Enough pages (about 110) that a backfill runs into the burst limit of 110 per 10 s."""


def limited(clock: FakeClock, **kw: Any) -> FakeHubSpot:
    return FakeHubSpot(seed=7, clock=clock, limits=True, **kw)


def bigger(clock: FakeClock, **kw: Any) -> FakeHubSpot:
    return FakeHubSpot(seed=7, sizes=BIGGER, clock=clock, limits=True, **kw)


async def backfill_all(c: Connected, *bindings: str) -> dict[str, list[int]]:
    out = {}
    for binding in bindings:
        docs, _ = await backfill(c, binding, c.clock.now())
        out[binding] = sorted(d.id for d in docs)
    return out


def expected(c: Connected, *bindings: str) -> dict[str, list[int]]:
    return {b: c.fake.ids(b) for b in bindings}


async def test_the_documented_limits_are_kept_without_429s() -> None:
    async with connected(bigger) as c:
        start = c.clock.monotonic()
        got = await backfill_all(c, "contacts", "deals", "engagements")
        assert got == expected(c, "contacts", "deals", "engagements")
        sent = len(c.fake.status_log)
        assert c.fake.status_log.count(429) == 0
        # Paced at 110 per 10 s: the requests took about as long as the limit requires.
        elapsed = c.clock.monotonic() - start
        assert sent > 110 and elapsed >= (sent - 110) / 11 * 0.9


async def test_the_budget_is_learnt_from_hubspots_headers() -> None:
    """A private app's limit (100 per 10 s, say) is read from X-HubSpot-RateLimit-* and the
    shared limiter follows it, saying so."""
    log, logs = capture_logger("test")
    async with connected(limited) as c:
        c.fake.set_limits(True, general=BucketLimit(50, 5.0))
        await c.client.get(log, "/crm/v3/owners")
        await backfill(c, "deals", c.clock.now())
        assert c.client.limits.budget == RequestBudget(50, 5.0) != PUBLIC_APP_BUDGET
        assert c.http.rate_limiter.budgets == (RequestBudget(50, 5.0),)
        assert "pacing requests at the rate limit HubSpot reports" in logs.text
        assert c.fake.status_log.count(429) == 0


async def test_searches_are_spaced_to_five_a_second() -> None:
    async with connected(limited) as c:
        since = c.clock.now() - dual.MAX_WINDOW
        for _ in range(12):
            await collect(search_changes(c.client, TYPES["deals"], LOG, since, None))
        stamps = [r.at for r in c.requests("/crm/v3/objects/deals/search", "POST")]
        assert len(stamps) == 12
        assert c.fake.status_log.count(429) == 0
        assert c.client.limits.search_waited >= (12 - 1) / 5 * 0.9


async def test_a_429_storm_and_5_percent_5xx_lose_nothing() -> None:
    async with connected(bigger) as c:
        c.fake.random_faults.rate = 0.05
        c.server.faults.rate_limit(retry_after=None, path="/crm/v3/objects/contacts", times=20)
        got = await backfill_all(c, "contacts", "deals")
        assert got == expected(c, "contacts", "deals")
        answered = c.fake.status_log.snapshot()
        errors = sum(a.status >= 500 for a in answered)
        assert errors > 0  # the faults happened, and were retried
        assert c.server.requests.faults().count("status:429") == 20


async def test_tokens_expiring_during_a_long_backfill_are_refreshed_before_they_expire() -> None:
    """hubspot.md §6.4 #10: access tokens live 2 s on the fake's clock while the backfill, paced
    at 10 requests a second, takes over ten; the refresh comes before expiry, no 401 is answered."""

    def slow(clock: FakeClock) -> FakeHubSpot:
        fake = bigger(clock, expires_in=2.0)
        fake.set_limits(True, general=BucketLimit(10, 1.0))
        return fake

    async with connected(slow, credentials=OAUTH) as c:
        start = c.clock.monotonic()
        got = await backfill_all(c, "contacts", "deals", "engagements", "companies")
        assert got == expected(c, "contacts", "deals", "engagements", "companies")
        assert c.clock.monotonic() - start > 10
        grants = c.requests("/oauth/v1/token", "POST")
        assert len(grants) >= 5
        assert all(dict(parse_qsl(g.body.decode()))["grant_type"] == "refresh_token" for g in grants)
        assert c.fake.status_log.count(401) == 0


async def test_a_token_the_fake_expires_early_is_refreshed_once_and_the_request_retried() -> None:
    """HubSpot's clock ahead of ours (or a token revoked): a 401 on a token that should still
    be valid is answered by one refresh and a retry; nothing reaches the capture."""
    async with connected(
        lambda clock: FakeHubSpot(seed=7, clock=clock, expires_in=60.0), credentials=OAUTH
    ) as c:
        c.fake.knobs.ms_per_request = 10_000  # each request ages the fake's tokens by 10 s
        got = await backfill_all(c, "contacts", "deals")
        assert got == expected(c, "contacts", "deals")
        assert c.fake.status_log.count(401) > 0
        assert len(c.requests("/oauth/v1/token", "POST")) > 1


async def test_long_waits_on_the_limits_are_said_as_a_status() -> None:
    """Paced at 2 requests a second, a 35 s backfill says every 30 s how long it waited."""

    def slow(clock: FakeClock) -> FakeHubSpot:
        fake = bigger(clock)
        fake.set_limits(True, general=BucketLimit(2, 1.0))
        return fake

    log, logs = capture_logger("test")
    async with connected(slow) as c:
        await backfill(c, "contacts", c.clock.now(), log=log)
        await backfill(c, "deals", c.clock.now(), log=log)
    statuses = [e for e in logs.events("connectorStatus") if "waiting on HubSpot's rate limits" in str(e)]
    assert statuses, logs.text[-2000:]
    assert c.fake.status_log.count(429) == 0
