"""The shared RateLimiter: server pushback pauses every task, proactive budgets, visibility."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from email.utils import format_datetime

import orjson
import pytest
from aiohttp import web
from estuary_cdk.http import (
    HTTPError,
    HTTPMixin,
    RateLimiter,
    RequestBudget,
    RetryPolicy,
    parse_reset,
    parse_retry_after,
    server_wait,
)
from estuary_cdk.testing import (
    FakeClock,
    LocalServer,
    LogCapture,
    capture_logger,
    open_http_session,
    serve_app,
)
from estuary_cdk.testing._session import FlowLogger


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def logged() -> tuple[FlowLogger, LogCapture]:
    return capture_logger()


def _app(
    clock: FakeClock, arrivals: list[tuple[str, float]], headers: dict[str, str] | None = None
) -> web.Application:
    async def item(request: web.Request) -> web.Response:
        arrivals.append((request.match_info["n"], clock.monotonic()))
        return web.json_response({"n": int(request.match_info["n"])}, headers=headers or {})

    app = web.Application()
    app.router.add_get("/items/{n}", item)
    return app


@pytest.fixture
async def arrivals() -> list[tuple[str, float]]:
    return []


@pytest.fixture
async def server(clock: FakeClock, arrivals: list[tuple[str, float]]) -> AsyncIterator[LocalServer]:
    async with serve_app(_app(clock, arrivals)) as srv:
        yield srv


async def _until(condition, limit: float = 10.0) -> None:
    """Wait (in real time, briefly) until `condition()` holds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while not condition():
        assert loop.time() < deadline, "condition not reached"
        await asyncio.sleep(0.001)


async def test_one_429_pauses_every_task(logged) -> None:
    log = logged[0]
    clock = FakeClock(auto_advance=False)  # sleepers wait until the test advances time
    arrivals: list[tuple[str, float]] = []
    async with serve_app(_app(clock, arrivals)) as server:
        server.faults.rate_limit(path="/items/0", retry_after=5)
        async with open_http_session(log, clock=clock, retry_policy=RetryPolicy(jitter=0)) as http:

            async def fetch(n: int) -> int:
                return orjson.loads(await http.request(log, server.url_for(f"/items/{n}")))["n"]

            first = asyncio.create_task(fetch(0))
            await _until(lambda: http.rate_limiter.delay > 0)  # its 429 paused the shared limiter
            others = [asyncio.create_task(fetch(n)) for n in range(1, 6)]
            await _until(lambda: clock.sleeping == 6)  # every task, not only the first, waits
            await asyncio.sleep(0.05)
            assert len(server.requests) == 1 and arrivals == []  # nothing went out meanwhile
            clock.advance(5)
            results = await asyncio.gather(first, *others)
    assert results == list(range(6))
    assert clock.sleeps == [5.0] * 6
    assert sorted(n for n, _ in arrivals) == [str(n) for n in range(6)]
    assert all(at == 1005.0 for _, at in arrivals)
    assert server.requests.faults().count("status:429") == 1


async def test_proactive_budget_paces_without_warm_up(
    server: LocalServer, clock: FakeClock, arrivals, logged
) -> None:
    log, capture = logged
    async with open_http_session(log, clock=clock, budget=RequestBudget(2, 10)) as http:
        start = clock.monotonic()
        for n in range(5):
            await http.request(log, server.url_for(f"/items/{n}"))
    assert [round(at - start, 6) for _, at in arrivals] == [0.0, 0.0, 5.0, 10.0, 15.0]
    assert clock.sleeps == [5.0, 5.0, 5.0]
    assert capture.events("connectorStatus") == []  # short waits are not announced


async def test_long_budget_wait_is_announced(server: LocalServer, clock: FakeClock, arrivals, logged) -> None:
    log, capture = logged
    async with open_http_session(log, clock=clock, budget=RequestBudget(1, 60)) as http:
        await asyncio.gather(*(http.request(log, server.url_for(f"/items/{n}")) for n in range(3)))
    assert len(arrivals) == 3
    msgs = [e["msg"] for e in capture.events("connectorStatus")]
    assert msgs[0] == "waiting on rate limit until 2030-01-01T00:01:00Z"
    assert "waiting on rate limit until 2030-01-01T00:02:00Z" in msgs


async def test_exhausted_remaining_pauses_before_the_next_request(clock: FakeClock, logged) -> None:
    log = logged[0]
    arrivals: list[tuple[str, float]] = []
    app = _app(clock, arrivals, headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "12"})
    async with serve_app(app) as server, open_http_session(log, clock=clock) as http:
        await http.request(log, server.url_for("/items/1"))
        await http.request(log, server.url_for("/items/2"))
    # The reset's 12 s, plus at most 1 s of resume jitter.
    assert 12.0 <= arrivals[1][1] - arrivals[0][1] <= 13.0
    assert len(clock.sleeps) == 1 and 12.0 <= clock.sleeps[0] <= 13.0


async def test_rate_limit_retries_can_be_bounded(server: LocalServer, clock: FakeClock, logged) -> None:
    server.faults.rate_limit(path="/items/1", times=None, retry_after=1)
    async with open_http_session(
        logged[0], clock=clock, retry_policy=RetryPolicy(jitter=0, max_rate_limit_retries=3)
    ) as http:
        with pytest.raises(HTTPError) as err:
            await http.request(logged[0], server.url_for("/items/1"))
    assert err.value.code == 429
    assert "429 (rate limited) 4 times in a row" in err.value.message
    assert clock.sleeps == [1.0, 1.0, 1.0]


async def test_a_server_wait_past_the_limit_fails_at_once(
    server: LocalServer, clock: FakeClock, logged
) -> None:
    """A day-long (or bogus) Retry-After is not a wait to sit out: the request fails at once,
    saying what the server asked for and the limit, instead of pausing every task."""
    server.faults.rate_limit(path="/items/1", headers={"Retry-After": "86400"})
    async with open_http_session(
        logged[0], clock=clock, retry_policy=RetryPolicy(max_server_wait=600)
    ) as http:
        with pytest.raises(HTTPError) as err:
            await http.request(logged[0], server.url_for("/items/1"))
    assert err.value.code == 429
    assert err.value.message.startswith(
        "Encountered HTTP error status 429 (rate limited) and asked to wait 24 h (Retry-After: 86400), "
        "longer than the 10 min limit on one wait (RetryPolicy.max_server_wait).\nURL: "
    )
    assert clock.sleeps == [] and http.rate_limiter.delay == 0


def test_header_parsing() -> None:
    now = 1_900_000_000.0
    assert parse_retry_after("120", now) == 120
    assert parse_retry_after("1.5", now) == 1.5
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now) == 0.0  # in the past
    later = format_datetime(datetime.fromtimestamp(now + 3600, tz=UTC), usegmt=True)
    assert parse_retry_after(later, now) == pytest.approx(3600)
    assert parse_retry_after("soon", now) is None
    assert parse_reset("30", now) == 30
    assert parse_reset(str(int(now) + 45), now) == 45  # epoch seconds
    assert parse_reset(str(int(now * 1000) + 2500), now) == pytest.approx(2.5)  # epoch millis
    assert server_wait({"RateLimit": '"default";r=0;t=17'}, now) == 17
    assert server_wait({"Retry-After": "3", "X-RateLimit-Reset": "50"}, now) == 3
    assert server_wait({}, now) is None


async def test_limiter_stats_and_budget_changes(clock: FakeClock, logged) -> None:
    limiter = RateLimiter(clock=clock)
    for _ in range(3):
        await limiter.acquire(logged[0])
    assert clock.sleeps == [] and limiter.total == 3 and limiter.delay == 0.0
    limiter.set_budget([RequestBudget(1, 1), RequestBudget(2, 100)])
    await limiter.acquire(logged[0])
    await limiter.acquire(logged[0])  # the 1/s budget: 1 s
    # The 2/100 s bucket refills one request per 50 s: 50 s after the first request.
    await limiter.acquire(logged[0])
    assert clock.sleeps == [1.0, pytest.approx(49.0)]
    limiter.pause(logged[0], 30, "test")
    assert limiter.delay == pytest.approx(30)
    with pytest.raises(ValueError):
        RequestBudget(0, 1)


@pytest.mark.parametrize(("pause", "spread"), [(20.0, 1.0), (2.0, 0.2)])
async def test_tasks_resume_spread_after_a_pause(logged, pause: float, spread: float) -> None:
    log = logged[0]
    clock = FakeClock(auto_advance=False)
    limiter = RateLimiter(clock=clock, rng=random.Random(7))
    start = clock.monotonic()
    limiter.pause(log, pause, "test")
    resumed: list[float] = []

    async def task() -> None:
        await limiter.acquire(log)
        resumed.append(clock.monotonic() - start)

    tasks = [asyncio.create_task(task()) for _ in range(8)]
    await _until(lambda: clock.sleeping == 8)
    clock.advance(pause)
    await asyncio.sleep(0)
    assert resumed == []  # nobody goes before the pause ends
    for _ in range(10):  # then walk through the spread window in tenths
        clock.advance(spread / 10)
        await asyncio.sleep(0)
    await asyncio.gather(*tasks)
    assert len(resumed) == 8
    assert all(pause < at <= pause + spread + 1e-9 for at in resumed)
    assert len(set(resumed)) >= 3  # not all at the same instant
    # No jitter: everyone resumes together, right at the end of the pause.
    plain = FakeClock()
    together = RateLimiter(clock=plain, resume_jitter=0)
    together.pause(log, pause, "test")
    await together.acquire(log)
    assert plain.sleeps == [pause]


def test_http_mixin_class_budget_is_used() -> None:
    class Connector(HTTPMixin):
        rate_limit_budget = RequestBudget(5, 1)

    async def run() -> tuple[RequestBudget, ...]:
        c = Connector()
        log, _ = capture_logger()
        await c._mixin_enter(log)
        try:
            return c.rate_limiter.budgets
        finally:
            await c._mixin_exit(log)

    assert asyncio.run(run()) == (RequestBudget(5, 1),)


# The reference kit's pacing API (issue 11): source-genesys builds its own limiter, sets
# `delay = 3.0` and calls `update(log, delay, failed)` as the backoff of a polling loop.


def test_a_set_delay_grows_by_the_reference_rule_on_each_failed_update(logged) -> None:
    log, _ = logged
    limiter = RateLimiter()
    limiter.delay = 3.0
    delays = []
    for _ in range(3):
        delay = limiter.delay
        delays.append(delay)
        limiter.update(log, delay, True)
    # 0.99 x delay + 0.01 x max(4 x delay, 0.1): about 3 % more each time.
    assert delays == [3.0, pytest.approx(3.09), pytest.approx(3.1827)]
    assert limiter.total == 3 and limiter.failed == 3 and limiter.error_ratio == 1.0


def test_successful_updates_shrink_the_delay_fast_until_the_first_failure(logged) -> None:
    log, _ = logged
    limiter = RateLimiter()
    limiter.delay = 1.0
    limiter.update(log, 1.0, False)
    assert limiter.delay == pytest.approx(0.995)  # towards half of it before any failure
    limiter.update(log, limiter.delay, True)
    after_failure = limiter.delay
    limiter.update(log, after_failure, False)
    assert limiter.delay == pytest.approx(after_failure * 0.9999)  # towards 0.99 x it after one
    assert limiter.failed == 1 and limiter.total == 3


def test_the_delay_stops_at_max_delay_with_one_warning(logged) -> None:
    log, capture = logged
    limiter = RateLimiter()
    limiter.delay = 299.0
    for _ in range(5):
        limiter.update(log, limiter.delay, True)
    assert limiter.delay == RateLimiter.MAX_DELAY and limiter.has_reached_max_delay
    assert capture.messages("WARNING").count("rate limiter has reached its maximum delay") == 1


async def test_a_set_delay_paces_every_request_and_the_default_does_not(clock: FakeClock, logged) -> None:
    log, _ = logged
    limiter = RateLimiter(clock=clock)
    await limiter.acquire(log)
    assert clock.sleeps == [] and limiter.delay == 0.0  # no warm-up, unlike the reference's 1 s
    limiter.delay = 0.5
    await limiter.acquire(log)
    await limiter.acquire(log)
    assert clock.sleeps == [0.5, 0.5] and limiter.total == 3
    limiter.delay = 0
    await limiter.acquire(log)
    assert clock.sleeps == [0.5, 0.5]


@pytest.mark.parametrize("bad", [-1.0, float("nan")])
def test_a_delay_that_is_no_wait_is_refused(bad: float) -> None:
    with pytest.raises(ValueError, match=r"RateLimiter\.delay must be a number of seconds >= 0"):
        RateLimiter().delay = bad
