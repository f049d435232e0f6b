"""The generator's fetch functions, driven directly (no process, no runtime)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from datetime import UTC, datetime

import pytest
from source_hello_world import api
from source_hello_world.models import EndpointConfig, Greeting

LOG = logging.getLogger("test")


async def collect(gen) -> list:
    return [item async for item in gen]


class FakeSleep:
    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def ids(items: list) -> list[int]:
    return [i.id for i in items if isinstance(i, Greeting)]


def test_greetings_are_a_function_of_their_id() -> None:
    config = EndpointConfig(greeting="Hi", name="there", start_at=datetime(2025, 1, 1, tzinfo=UTC))
    doc = api.make_greeting(config, 7)
    assert doc.message == "Hi, there! (#7)"
    assert doc.created_at == datetime(2025, 1, 1, 0, 0, 7, tzinfo=UTC)
    assert doc.signature is None
    assert api.make_greeting(config, 7) == doc


def test_signing_key_signs_the_message() -> None:
    config = EndpointConfig(signing_key="s3cret")
    doc = api.make_greeting(config, 3)
    expected = hmac.new(b"s3cret", doc.message.encode(), hashlib.sha256).hexdigest()
    assert doc.signature == expected


async def test_backfill_pages_through_history_then_completes() -> None:
    config = EndpointConfig(history=10, page_size=4)
    progress = api.Progress()

    first = await collect(api.fetch_greetings_page(config, progress, LOG, None, 10))
    assert ids(first) == [1, 2, 3, 4] and first[-1] == 4
    second = await collect(api.fetch_greetings_page(config, progress, LOG, 4, 10))
    assert ids(second) == [5, 6, 7, 8] and second[-1] == 8
    assert not progress.backfill_done.is_set()

    last = await collect(api.fetch_greetings_page(config, progress, LOG, 8, 10))
    # No trailing cursor: that is how a FetchPageFn says the backfill is complete.
    assert last == [api.make_greeting(config, 9), api.make_greeting(config, 10)]
    assert progress.backfill_done.is_set()


async def test_unpaced_changes_come_in_batches_up_to_count() -> None:
    config = EndpointConfig(rate=0, count=2500)
    progress, stopping, sleep = api.Progress(), asyncio.Event(), FakeSleep()

    items = await collect(api.fetch_greetings_changes(config, progress, stopping, sleep, LOG, 0))
    assert ids(items) == list(range(1, api.UNPACED_BATCH + 1))
    assert items[-1] == api.UNPACED_BATCH

    items = await collect(api.fetch_greetings_changes(config, progress, stopping, sleep, LOG, 2000))
    assert ids(items) == list(range(2001, 2501)) and items[-1] == 2500
    assert sleep.calls == []
    assert not stopping.is_set()


async def test_paced_changes_sleep_for_their_share_of_the_rate() -> None:
    config = EndpointConfig(rate=20, count=None)
    sleep = FakeSleep()
    items = await collect(api.fetch_greetings_changes(config, api.Progress(), asyncio.Event(), sleep, LOG, 5))
    # 20/s over a 0.2 s window: 4 greetings, and 4 / 20 = 0.2 s of sleep before them.
    assert ids(items) == [6, 7, 8, 9] and items[-1] == 9
    assert sleep.calls == [pytest.approx(0.2)]


async def test_reaching_count_stops_once_the_history_is_backfilled() -> None:
    config = EndpointConfig(rate=0, count=5, history=3)
    progress, stopping = api.Progress(), asyncio.Event()

    waiting = asyncio.ensure_future(
        collect(api.fetch_greetings_changes(config, progress, stopping, FakeSleep(), LOG, 5))
    )
    await asyncio.sleep(0.01)
    assert not waiting.done() and not stopping.is_set()

    progress.backfill_done.set()
    assert await asyncio.wait_for(waiting, 1) == []
    assert stopping.is_set()


async def test_an_outside_stop_releases_a_capture_waiting_at_count() -> None:
    config = EndpointConfig(rate=0, count=1)
    progress, stopping = api.Progress(), asyncio.Event()
    waiting = asyncio.ensure_future(
        collect(api.fetch_greetings_changes(config, progress, stopping, FakeSleep(), LOG, 1))
    )
    await asyncio.sleep(0.01)
    stopping.set()
    assert await asyncio.wait_for(waiting, 1) == []
    assert not progress.backfill_done.is_set()


async def test_languages_snapshot_is_stable() -> None:
    first = await collect(api.fetch_languages(LOG))
    second = await collect(api.fetch_languages(LOG))
    assert [d.code for d in first] == [code for code, _ in api.LANGUAGES]
    assert first == second
