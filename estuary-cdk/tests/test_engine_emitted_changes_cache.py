from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import estuary_cdk.emitted_changes_cache as cache
import pytest

T = datetime(2025, 1, 1, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _clean() -> Iterator[None]:
    cache.emitted_cache.clear()
    yield
    cache.emitted_cache.clear()


def test_add_recent_keeps_newest() -> None:
    cache.add_recent("deals", 1, T)
    cache.add_recent("deals", 1, T - timedelta(hours=1))
    assert cache.emitted_cache["deals"][1] == T
    cache.add_recent("deals", 1, T + timedelta(hours=1))
    assert cache.emitted_cache["deals"][1] == T + timedelta(hours=1)


def test_has_as_recent_as() -> None:
    assert not cache.has_as_recent_as("deals", "a", T)
    cache.add_recent("deals", "a", T)
    assert cache.has_as_recent_as("deals", "a", T)
    assert cache.has_as_recent_as("deals", "a", T - timedelta(seconds=1))
    assert not cache.has_as_recent_as("deals", "a", T + timedelta(seconds=1))
    assert not cache.has_as_recent_as("contacts", "a", T)


def test_should_yield_records_and_dedupes() -> None:
    assert cache.should_yield("deals", 7, T)
    assert not cache.should_yield("deals", 7, T)
    assert not cache.should_yield("deals", 7, T - timedelta(minutes=1))
    assert cache.should_yield("deals", 7, T + timedelta(minutes=1))
    assert cache.count_for("deals") == 1


def test_cleanup_evicts_entries_at_or_before_cutoff() -> None:
    for i in range(5):
        cache.add_recent("deals", i, T + timedelta(minutes=i))
    assert cache.cleanup("deals", T + timedelta(minutes=2)) == 3
    assert cache.count_for("deals") == 2
    assert sorted(cache.emitted_cache["deals"]) == [3, 4]
    assert cache.cleanup("unknown", T) == 0
    assert cache.count_for("unknown") == 0
