"""Hacker News API calls and the capture's fetch functions.

Everything here is a plain async function over an `HTTPSession`, so it can be tested against
the local fake API without the capture engine. Resources bind the leading arguments with
`functools.partial`, leaving the engine's `(log, cursor)` signatures.
"""

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Iterable
from datetime import UTC, datetime, timedelta
from logging import Logger
from typing import Any, TypeVar

import estuary_cdk.emitted_changes_cache as cache
import orjson
import xxhash
from estuary_cdk.buffer_ordered import buffer_ordered
from estuary_cdk.capture.common import AssociatedDocument, LogCursor, PageCursor
from estuary_cdk.http import HTTPSession

from .models import EndpointConfig, Item, StoryRank, UpdatesFeed, User

CHECKPOINT_EVERY = 1000
"""Item ids per backfill / new-item checkpoint: a restart re-fetches at most this many."""

REORDER_WINDOW = 4
"""Finished-but-not-yet-yielded results allowed per request slot (bounds memory)."""

NULL_RECHECK_WINDOW = 100
"""A `null` for one of the newest ids (within this many of `maxitem`) is usually an item the API
has not finished writing rather than an empty id: the changed-items stream fetches it again."""

NULL_RECHECK_POLLS = 10
"""Changed-items polls that re-fetch such an id before it is taken as permanently empty."""

_null_rechecks: dict[int, int] = {}
"""Newest ids that answered `null` while the backfill or the new-items cursor moved past them ->
polls left. Process-wide like the changes cache: the binding's streams share it."""

REMEMBER_NEWEST = 1000
"""The backfill's newest ids (within this many of its cutoff) go into the changes cache: the
updates feed lists recently created and changed items, and an item the backfill emitted as it is
now must not come again from the changed-items stream (older ids are rarely listed, and
remembering every id would hold the whole backfill in memory)."""

DEDUPE_RETENTION = timedelta(hours=6)
"""How long the changes cache remembers an emitted (id, content) pair. The updates feed only
lists recent changes, so older entries can no longer suppress a duplicate."""


_Doc = TypeVar("_Doc", Item, User)


class HackerNewsError(RuntimeError):
    """The API answered with something that is not the documented shape."""


# --- raw API calls --------------------------------------------------------------------------


async def _get_json(http: HTTPSession, log: Logger, url: str) -> Any:
    body = await http.request(log, url)
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as err:
        raise HackerNewsError(f"{url} did not return JSON: {body[:200]!r}") from err


async def fetch_maxitem(http: HTTPSession, base_url: str, log: Logger) -> int:
    value = await _get_json(http, log, f"{base_url}/v0/maxitem.json")
    if not isinstance(value, int) or isinstance(value, bool):
        raise HackerNewsError(f"maxitem is not an integer: {value!r}")
    return value


async def fetch_item_raw(
    http: HTTPSession, base_url: str, log: Logger, item_id: int
) -> dict[str, Any] | None:
    """The item as the API returns it, or None for ids the API answers with `null`."""
    value = await _get_json(http, log, f"{base_url}/v0/item/{item_id}.json")
    if value is not None and not isinstance(value, dict):
        raise HackerNewsError(f"item {item_id} is not an object: {value!r}")
    return value


async def fetch_item(http: HTTPSession, base_url: str, log: Logger, item_id: int) -> Item | None:
    raw = await fetch_item_raw(http, base_url, log, item_id)
    return None if raw is None else Item.model_validate(raw)


async def fetch_user(http: HTTPSession, base_url: str, log: Logger, name: str) -> User | None:
    value = await _get_json(http, log, f"{base_url}/v0/user/{name}.json")
    if value is None:
        return None
    if not isinstance(value, dict):
        raise HackerNewsError(f"user {name} is not an object: {value!r}")
    return User.model_validate(value)


async def fetch_updates(http: HTTPSession, base_url: str, log: Logger) -> tuple[list[int], list[str]]:
    """`/v0/updates.json`: ids of recently changed items and names of recently changed users."""
    value = await _get_json(http, log, f"{base_url}/v0/updates.json")
    if not isinstance(value, dict):
        raise HackerNewsError(f"updates is not an object: {value!r}")
    return [int(i) for i in value.get("items") or []], [str(p) for p in value.get("profiles") or []]


async def fetch_story_list(http: HTTPSession, base_url: str, log: Logger, name: str) -> list[int]:
    value = await _get_json(http, log, f"{base_url}/v0/{name}.json")
    if value is None:
        return []
    if not isinstance(value, list):
        raise HackerNewsError(f"{name} is not a list: {value!r}")
    return [int(i) for i in value]


async def find_first_id_at(
    http: HTTPSession, base_url: str, log: Logger, when: datetime, maxitem: int
) -> int:
    """The smallest id whose item was created at or after `when` (binary search: item ids grow
    with time). Ids answering `null` are stepped over to the next one that exists."""
    lo, hi = 1, maxitem + 1
    while lo < hi:
        mid = (lo + hi) // 2
        probe = mid
        item = await fetch_item(http, base_url, log, probe)
        while (item is None or item.time is None) and probe < min(hi, mid + 50) - 1:
            probe += 1
            item = await fetch_item(http, base_url, log, probe)
        if item is None or item.time is None or item.time >= when:
            hi = mid
        else:
            lo = probe + 1
    return lo


# --- helpers --------------------------------------------------------------------------------


def fingerprint(doc: Item | User) -> str:
    """A digest of a document's content, so one change is emitted once however often the
    updates feed repeats it."""
    return xxhash.xxh3_64_hexdigest(doc.model_dump_json(exclude={"meta_"}))


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _first_time(name: str, key: str, now: datetime) -> bool:
    """True (and `key` is recorded as seen at `now`) when `key` is not in the changes cache.
    Entries are dated when first seen, so `cache.cleanup(name, now - DEDUPE_RETENTION)`
    forgets them once the updates feed can no longer repeat them."""
    if cache.has_as_recent_as(name, key, _EPOCH):
        return False
    cache.add_recent(name, key, now)
    return True


def _remember(name: str, key: int | str, doc: Item | User, now: datetime) -> bool:
    """True (and the pair is recorded) when this exact content was not emitted recently."""
    return _first_time(name, f"{key}:{fingerprint(doc)}", now)


async def _items_in_range(
    http: HTTPSession, config: EndpointConfig, log: Logger, first: int, last: int
) -> AsyncGenerator[tuple[int, Item | None], None]:
    """Items `first..last` in id order, `config.concurrency` requests in flight.

    `buffer_ordered` holds finished results until every earlier id has been yielded, so one slow
    response would idle the slots behind it. Its window is therefore `REORDER_WINDOW` times the
    concurrency, and a semaphore keeps the requests actually in flight at `concurrency`."""
    in_flight = asyncio.Semaphore(config.concurrency)

    async def one(n: int) -> tuple[int, Item | None]:
        async with in_flight:
            return n, await fetch_item(http, config.base_url, log, n)

    async def requests() -> AsyncIterator[Awaitable[tuple[int, Item | None]]]:
        for n in range(first, last + 1):
            yield one(n)

    async for pair in buffer_ordered(requests(), config.concurrency * REORDER_WINDOW):
        yield pair


def _after(cursor: datetime, now: datetime) -> datetime:
    """A datetime cursor strictly greater than `cursor`, as the engine requires."""
    return now if now > cursor else cursor + timedelta(microseconds=1)


# --- fetch functions ------------------------------------------------------------------------


async def start_id(http: HTTPSession, config: EndpointConfig, log: Logger, maxitem: int) -> int:
    """Where a fresh backfill begins: the configured id, the first id at the configured date,
    or 1."""
    if config.start_id is not None:
        return config.start_id
    if config.start_date is not None:
        first = await find_first_id_at(http, config.base_url, log, config.start_date, maxitem)
        log.info("backfill starts at the first item of the start date", {"start_id": first})
        return first
    return 1


async def backfill_items(
    http: HTTPSession,
    config: EndpointConfig,
    log: Logger,
    page: PageCursor,
    cutoff: LogCursor,
) -> AsyncGenerator[Item | int, None]:
    """Every item from the page cursor (the next id to fetch) up to `cutoff`, the max item id
    when the capture started. A cursor follows every `CHECKPOINT_EVERY`-th id, in order, so a
    restart resumes right after the last checkpointed id."""
    if not isinstance(cutoff, int):
        raise HackerNewsError(f"items backfill cutoff must be an item id, not {cutoff!r}")
    first = page if isinstance(page, int) else await start_id(http, config, log, cutoff)
    async for n, item in _items_in_range(http, config, log, first, cutoff):
        if item is not None:
            if n > cutoff - REMEMBER_NEWEST:
                _remember("items", n, item, http.clock.now())
            yield item
        elif n > cutoff - NULL_RECHECK_WINDOW:
            _null_rechecks[n] = NULL_RECHECK_POLLS  # possibly still being written
        if n % CHECKPOINT_EVERY == 0 and n < cutoff:
            yield n + 1


async def fetch_new_items(
    http: HTTPSession,
    config: EndpointConfig,
    users_binding: int | None,
    log: Logger,
    cursor: LogCursor,
) -> AsyncGenerator[Item | AssociatedDocument | int, None]:
    """Items created since `cursor` (the last captured id). Authors are captured into the
    users binding when configured."""
    if not isinstance(cursor, int):
        raise HackerNewsError(f"new-items cursor must be an item id, not {cursor!r}")
    maxitem = await fetch_maxitem(http, config.base_url, log)
    if maxitem <= cursor:
        return
    now = http.clock.now()
    authors_seen: set[str] = set()
    async for n, item in _items_in_range(http, config, log, cursor + 1, maxitem):
        if item is None and n > maxitem - NULL_RECHECK_WINDOW:
            _null_rechecks[n] = NULL_RECHECK_POLLS
        if item is not None and _remember("items", n, item, now):
            yield item
            if users_binding is not None and item.by and item.by not in authors_seen:
                authors_seen.add(item.by)
                user = await fetch_user(http, config.base_url, log, item.by)
                if user is not None and _remember("users", user.id, user, now):
                    yield AssociatedDocument(doc=user, binding=users_binding)
        if n % CHECKPOINT_EVERY == 0 or n == maxitem:
            yield n


def recheck_after_restart(
    new_cursor: int, backfill_cutoff: int | None, backfill_next: int | None, first_id: int = 1
) -> list[int]:
    """After a restart, put up for rechecking the newest ids a previous process passed: which of
    them answered `null` there was only known to it, and such an id may exist by now. Passed
    are the ids up to the new-items cursor, except those of a backfill in progress (up to its
    `backfill_cutoff`) that it has not reached yet (`backfill_next`, None: none reached): the
    backfill fetches those itself, and those below `first_id`, where the capture began. On a
    fresh start nothing was passed, so nothing is rechecked
    (and nothing emitted twice). Ids that exist are emitted again by the changed-items stream
    (duplicates after a restart, which the collection reduces by key); the others are rechecked
    as usual, a bounded number of times. Returns the ids put up."""
    ids = []
    for n in range(max(new_cursor - NULL_RECHECK_WINDOW + 1, first_id, 1), new_cursor + 1):
        if (
            backfill_cutoff is not None
            and n <= backfill_cutoff
            and (backfill_next is None or n >= backfill_next)
        ):
            continue  # the backfill has yet to fetch it
        _null_rechecks.setdefault(n, NULL_RECHECK_POLLS)
        ids.append(n)
    return ids


async def _emit_changed(
    name: str,
    fetches: Iterable[Awaitable[_Doc | None]],
    concurrency: int,
    cursor: datetime,
    now: datetime,
) -> AsyncGenerator[_Doc | datetime, None]:
    """The fetched documents (`concurrency` requests in flight) whose content was not emitted
    recently (before `now`, the session clock's) under `name` in the changes cache, then the
    next cursor."""
    cache.cleanup(name, now - DEDUPE_RETENTION)

    async def requests() -> AsyncIterator[Awaitable[_Doc | None]]:
        for fetch in fetches:
            yield fetch

    async for doc in buffer_ordered(requests(), concurrency):
        if doc is not None and _remember(name, doc.id, doc, now):
            yield doc
    yield _after(cursor, now)


async def fetch_item_updates(
    http: HTTPSession,
    config: EndpointConfig,
    log: Logger,
    cursor: LogCursor,
) -> AsyncGenerator[Item | datetime, None]:
    """Items listed in the updates feed whose content changed since it was last emitted, and the
    newest ids that answered `null` to the new-items stream (see `NULL_RECHECK_WINDOW`), so an
    item the API was still writing is not lost behind the new-items cursor."""
    if not isinstance(cursor, datetime):
        raise HackerNewsError(f"updates cursor must be a datetime, not {cursor!r}")
    ids, _ = await fetch_updates(http, config.base_url, log)
    listed = set(ids)
    rechecks = [n for n in _null_rechecks if n not in listed]
    fetches = (fetch_item(http, config.base_url, log, n) for n in [*ids, *rechecks])
    async for out in _emit_changed("items", fetches, config.concurrency, cursor, http.clock.now()):
        if isinstance(out, Item):
            _null_rechecks.pop(out.id, None)
        yield out
    for n in rechecks:
        left = _null_rechecks.pop(n, 0) - 1
        if left > 0:
            _null_rechecks[n] = left


async def fetch_user_updates(
    http: HTTPSession,
    config: EndpointConfig,
    log: Logger,
    cursor: LogCursor,
) -> AsyncGenerator[User | datetime, None]:
    """Users listed in the updates feed whose profile changed since it was last emitted."""
    if not isinstance(cursor, datetime):
        raise HackerNewsError(f"users cursor must be a datetime, not {cursor!r}")
    _, names = await fetch_updates(http, config.base_url, log)
    fetches = (fetch_user(http, config.base_url, log, name) for name in names)
    async for out in _emit_changed("users", fetches, config.concurrency, cursor, http.clock.now()):
        yield out


async def fetch_updates_feed(
    http: HTTPSession,
    config: EndpointConfig,
    log: Logger,
    cursor: LogCursor,
) -> AsyncGenerator[UpdatesFeed | datetime, None]:
    """The raw updates feed, one document per poll that saw a different feed."""
    if not isinstance(cursor, datetime):
        raise HackerNewsError(f"updates cursor must be a datetime, not {cursor!r}")
    ids, names = await fetch_updates(http, config.base_url, log)
    now = http.clock.now()
    cache.cleanup("updates", now - DEDUPE_RETENTION)
    digest = xxhash.xxh3_64_hexdigest(orjson.dumps([ids, names]))
    if _first_time("updates", digest, now):
        yield UpdatesFeed(fetched_at=now, items=ids, profiles=names)
    yield _after(cursor, now)


async def snapshot_story_list(
    http: HTTPSession,
    config: EndpointConfig,
    name: str,
    log: Logger,
) -> AsyncGenerator[StoryRank, None]:
    """The list in rank order; the engine numbers rows and tombstones ranks that disappear."""
    for rank, item_id in enumerate(await fetch_story_list(http, config.base_url, log, name), start=1):
        yield StoryRank(rank=rank, id=item_id)
