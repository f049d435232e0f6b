"""Run awaitables concurrently while yielding their results in input order.

Memory is bounded: at most ``concurrency`` awaitables are pulled from the input and in flight
(finished or not) at any time, so a fast producer cannot buffer an unbounded backlog of results
ahead of a slow consumer. As in the reference kit, the same bound applies behind a slow head:
the results finished after it wait for it and hold their slots, so nothing new starts until the
head is yielded. A caller that wants ``n`` requests running through slow heads passes a larger
``concurrency`` (the reorder window, which is also the memory bound) and limits the requests
themselves with an ``asyncio.Semaphore(n)``.
"""

import asyncio
import collections
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable
from typing import TypeVar

__all__ = ["buffer_ordered"]

T = TypeVar("T")


async def buffer_ordered(
    aws: AsyncIterator[Awaitable[T]],
    concurrency: int | None = None,
    *,
    max_concurrent: int | None = None,
) -> AsyncGenerator[T, None]:
    """Yield the result of every awaitable of ``aws``, in order, running up to ``concurrency``
    (alias ``max_concurrent``) of them at once.

    The first failure (of the input generator or of any awaitable, whichever is observed first)
    is re-raised as is, not wrapped in an ExceptionGroup; every other in-flight awaitable is then
    cancelled and awaited, and its outcome discarded.
    """
    limit = concurrency if concurrency is not None else max_concurrent
    if limit is None:
        raise TypeError("buffer_ordered() requires `concurrency` (or `max_concurrent`)")
    if limit < 1:
        raise ValueError(f"buffer_ordered() concurrency must be >= 1, got {limit}")

    inflight: collections.deque[asyncio.Future[T]] = collections.deque()
    exhausted = False
    try:
        while True:
            while not exhausted and len(inflight) < limit:
                try:
                    aw = await anext(aws)
                except StopAsyncIteration:
                    exhausted = True
                    break
                inflight.append(asyncio.ensure_future(aw))

            if not inflight:
                return

            head = inflight[0]
            while not head.done():
                # Wake whenever any unfinished awaitable finishes: the head, to yield it as soon
                # as it is ready, or another one, so a failure deeper in the queue is not hidden
                # behind a slow head.
                pending = [fut for fut in inflight if not fut.done()]
                await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for fut in inflight:
                    if fut.done() and not fut.cancelled():
                        exc = fut.exception()
                        if exc is not None:
                            raise exc

            inflight.popleft()
            yield head.result()
    finally:
        for fut in inflight:
            fut.cancel()
        if inflight:
            await asyncio.gather(*inflight, return_exceptions=True)
        aclose = getattr(aws, "aclose", None)
        if aclose is not None:
            await aclose()
