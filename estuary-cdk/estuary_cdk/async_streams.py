"""Combinators over async iterators."""

import asyncio
from collections.abc import AsyncIterator
from typing import Any, TypeVar

__all__ = ["merge"]

T = TypeVar("T")

_QUEUE_SIZE = 16


class _Done:
    """Sentinel: one source iterator is exhausted."""


class _Failed:
    """Carrier for an exception raised by a source iterator."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


async def merge(*iterators: AsyncIterator[T]) -> AsyncIterator[T]:
    """Interleave ``iterators`` in completion order.

    Items pass through a bounded queue, so a fast source is throttled by the consumer. The first
    exception from any source is raised to the consumer after the other sources are cancelled;
    leaving the loop early cancels them too. Every source with an ``aclose`` is closed.
    """
    queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=_QUEUE_SIZE)

    async def pump(it: AsyncIterator[T]) -> None:
        try:
            async for item in it:
                await queue.put(item)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # forwarded to the consumer, who re-raises it
            await queue.put(_Failed(exc))
            return
        await queue.put(_Done())

    pumps = [asyncio.create_task(pump(it)) for it in iterators]
    remaining = len(pumps)
    try:
        while remaining:
            item = await queue.get()
            if isinstance(item, _Done):
                remaining -= 1
            elif isinstance(item, _Failed):
                raise item.error
            else:
                yield item
    finally:
        for p in pumps:
            p.cancel()
        await asyncio.gather(*pumps, return_exceptions=True)
        for it in iterators:
            aclose = getattr(it, "aclose", None)
            if aclose is not None:
                try:
                    await aclose()
                except RuntimeError:
                    # An async generator that is still running (its pump was cancelled
                    # mid-step) cannot be closed twice; cancellation already finalized it.
                    pass
