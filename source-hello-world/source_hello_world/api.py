"""The greeting generator: pure fetch functions in the shapes `open_binding` drives.

Nothing here does I/O. Greetings are a function of their id (text, creation time, signature),
so a capture that resumes from a checkpoint continues exactly where it stopped and two runs with
the same configuration produce the same documents.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from logging import Logger

from estuary_cdk.capture.common import LogCursor, PageCursor

from .models import EndpointConfig, Greeting, Language

Sleep = Callable[[float], Awaitable[None]]

# How much generated time one incremental invocation covers when a rate is set: short enough that
# checkpoints stream steadily, long enough that a high rate does not checkpoint every document.
PACING_WINDOW_S = 0.2
# Greetings per invocation (and so per checkpoint) when the rate is unlimited.
UNPACED_BATCH = 1000

LANGUAGES: tuple[tuple[str, str], ...] = (
    ("en", "Hello"),
    ("es", "Hola"),
    ("fr", "Bonjour"),
    ("de", "Hallo"),
    ("it", "Ciao"),
    ("pt", "Olá"),
    ("sw", "Jambo"),
    ("ja", "こんにちは"),
)


@dataclass
class Progress:
    """Shared between the binding's backfill and incremental functions so the capture stops
    only when both are done (`count` reached and history backfilled)."""

    backfill_done: asyncio.Event = field(default_factory=asyncio.Event)


def make_greeting(config: EndpointConfig, greeting_id: int) -> Greeting:
    message = f"{config.greeting}, {config.name}! (#{greeting_id})"
    doc = Greeting(
        id=greeting_id,
        message=message,
        created_at=config.start_at + timedelta(seconds=greeting_id),
    )
    if config.signing_key:
        doc.signature = hmac.new(config.signing_key.encode(), message.encode(), hashlib.sha256).hexdigest()
    return doc


async def fetch_greetings_page(
    config: EndpointConfig,
    progress: Progress,
    log: Logger,
    page: PageCursor,
    cutoff: LogCursor,
) -> AsyncGenerator[Greeting | PageCursor, None]:
    """Backfill greetings 1..cutoff (the history), one page per invocation.

    The page cursor is the last id emitted; a page that reaches the cutoff yields no cursor,
    which tells the engine the backfill is complete."""
    if not isinstance(cutoff, int) or (page is not None and not isinstance(page, int)):
        raise TypeError(f"greetings use integer cursors, got page={page!r} cutoff={cutoff!r}")
    first = (page or 0) + 1
    last = min(first + config.page_size - 1, cutoff)
    for greeting_id in range(first, last + 1):
        yield make_greeting(config, greeting_id)
    if last < cutoff:
        yield last
    else:
        log.info("greetings history backfilled", {"through": last})
        progress.backfill_done.set()


async def fetch_greetings_changes(
    config: EndpointConfig,
    progress: Progress,
    stopping: asyncio.Event,
    sleep: Sleep,
    log: Logger,
    cursor: LogCursor,
) -> AsyncGenerator[Greeting | LogCursor, None]:
    """New greetings after `cursor`, paced to `config.rate`, then the new cursor.

    Once `config.count` is reached (and the history is backfilled) it asks the capture to stop
    gracefully, which ends a `flowctl preview` session on its own."""
    if not isinstance(cursor, int):
        raise TypeError(f"greetings use integer cursors, got {cursor!r}")
    remaining = None if config.count is None else config.count - cursor
    if remaining is not None and remaining <= 0:
        await _stop_when_backfilled(progress, stopping, log, cursor)
        return

    if config.rate > 0:
        batch = max(1, round(config.rate * PACING_WINDOW_S))
    else:
        batch = UNPACED_BATCH
    if remaining is not None:
        batch = min(batch, remaining)
    if config.rate > 0:
        await sleep(batch / config.rate)

    for greeting_id in range(cursor + 1, cursor + batch + 1):
        yield make_greeting(config, greeting_id)
    yield cursor + batch


async def _stop_when_backfilled(
    progress: Progress, stopping: asyncio.Event, log: Logger, cursor: int
) -> None:
    waiters = {
        asyncio.ensure_future(progress.backfill_done.wait()),
        asyncio.ensure_future(stopping.wait()),
    }
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
    if not stopping.is_set():
        log.info("reached the configured count of greetings; stopping", {"count": cursor})
        stopping.set()


async def fetch_languages(log: Logger) -> AsyncGenerator[Language, None]:
    """The whole (static) languages table, in a stable order so unchanged passes are skipped."""
    for code, hello in LANGUAGES:
        yield Language(code=code, hello=hello)
