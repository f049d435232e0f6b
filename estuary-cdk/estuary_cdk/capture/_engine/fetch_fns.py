"""Fetch function signatures and small shared helpers of the engine tasks."""

import inspect
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from datetime import timedelta
from logging import Logger
from typing import Any, TypeVar

from ..document import AssociatedDocument, BaseDocument
from .cursors import LogCursor, PageCursor, Triggers

_Doc = TypeVar("_Doc", bound=BaseDocument)
"""The document model a fetch function yields: the aliases below are generic in it, as the
reference kit's are (`FetchChangesFn[Ticket]`); a bare alias means any document model."""

FetchSnapshotFn = Callable[[Logger], AsyncGenerator[_Doc | dict[str, Any], None]]
"""Fetches a complete snapshot of a (small) resource. The snapshot is digested and only emitted
when it changed since the last one; rows that vanished are deleted with tombstones. Documents
must be yielded in a stable order."""

FetchPageFn = Callable[
    [Logger, PageCursor, LogCursor],
    AsyncGenerator[_Doc | dict[str, Any] | AssociatedDocument[Any] | PageCursor, None],
]
"""Fetches backfill documents from page cursor ``page`` (None: start), skipping documents
modified at or after ``cutoff`` (incremental capture has them). Yield documents, then a
non-None PageCursor to checkpoint them; return without a trailing cursor when done."""

RecurringFetchPageFn = Callable[
    [Logger, PageCursor, LogCursor, bool],
    AsyncGenerator[_Doc | dict[str, Any] | AssociatedDocument[Any] | PageCursor, None],
]
"""A FetchPageFn that is also told whether the connector itself (a schedule) started the
backfill, e.g. to re-fetch only the fields that need a periodic refresh."""

FetchChangesFn = Callable[
    [Logger, LogCursor],
    AsyncGenerator[_Doc | dict[str, Any] | AssociatedDocument[Any] | LogCursor | Triggers, None],
]
"""Fetches changes since ``log_cursor``: documents followed by a strictly greater LogCursor that
checkpoints them, repeated until no more changes are readily available, then returns. Yielding
``Triggers.BACKFILL`` asks for the binding to be re-backfilled."""


def is_recurring_fetch_page_fn(
    fn: Callable[..., Any],
    log: Logger,
    page: PageCursor,
    cutoff: LogCursor,
    is_connector_initiated: bool,
) -> bool:
    """True if ``fn`` accepts the extra ``is_connector_initiated`` argument."""
    try:
        inspect.signature(fn).bind(log, page, cutoff, is_connector_initiated)
    except TypeError:
        return False
    return True


def binding_interval(binding: Any) -> timedelta:
    """The binding's polling interval (zero for resource configs without one)."""
    interval = getattr(binding.resourceConfig, "interval", None)
    return interval if isinstance(interval, timedelta) else timedelta()


async def aclose(it: AsyncIterator[Any]) -> None:
    """Finalize a fetch generator promptly (not at garbage collection), even on early exit."""
    close = getattr(it, "aclose", None)
    if close is not None:
        await close()
