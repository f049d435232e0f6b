"""A process-wide memory of recently emitted changes, for de-duplicating two streams of the
same objects (e.g. a fast "realtime" poll and a lagging but consistent "delayed" poll).

It is a module-level singleton on purpose: every task of the process shares it, and it lives
only as long as the process (state is never persisted).
"""

from datetime import datetime

__all__ = ["add_recent", "cleanup", "count_for", "emitted_cache", "has_as_recent_as", "should_yield"]

emitted_cache: dict[str, dict[int | str, datetime]] = {}


def add_recent(object_name: str, key: int | str, dt: datetime) -> None:
    """Remember that ``key`` was emitted as of ``dt``, unless a newer emission is known."""
    entries = emitted_cache.setdefault(object_name, {})
    current = entries.get(key)
    if current is None or dt > current:
        entries[key] = dt


def has_as_recent_as(object_name: str, key: int | str, dt: datetime) -> bool:
    """True if ``key`` was already emitted with a timestamp at or after ``dt``."""
    entries = emitted_cache.get(object_name)
    if entries is None:
        return False
    current = entries.get(key)
    return current is not None and current >= dt


def should_yield(object_name: str, key: int | str, dt: datetime) -> bool:
    """Decide whether the caller must emit ``key`` as of ``dt``; if so, record it as emitted."""
    if has_as_recent_as(object_name, key, dt):
        return False
    add_recent(object_name, key, dt)
    return True


def cleanup(object_name: str, cutoff: datetime) -> int:
    """Forget entries at or before ``cutoff`` (the slower stream has passed them) and return
    how many were evicted."""
    entries = emitted_cache.get(object_name)
    if not entries:
        return 0
    kept = {k: v for k, v in entries.items() if v > cutoff}
    evicted = len(entries) - len(kept)
    emitted_cache[object_name] = kept
    return evicted


def count_for(object_name: str) -> int:
    """Number of keys currently remembered for ``object_name``."""
    return len(emitted_cache.get(object_name, ()))
