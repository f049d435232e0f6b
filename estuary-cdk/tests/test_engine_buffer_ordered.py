import asyncio
from collections.abc import AsyncGenerator, Awaitable

import pytest
from estuary_cdk.buffer_ordered import buffer_ordered


class Tracker:
    def __init__(self) -> None:
        self.running = 0
        self.max_running = 0
        self.pulled = 0
        self.cancelled = 0

    async def work(self, value: int, delay: float, fail: bool = False) -> int:
        self.running += 1
        self.max_running = max(self.max_running, self.running)
        try:
            await asyncio.sleep(delay)
            if fail:
                raise ValueError(f"boom {value}")
            return value
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        finally:
            self.running -= 1


async def test_results_in_input_order_with_bounded_concurrency() -> None:
    t = Tracker()
    delays = [0.02, 0.0, 0.01, 0.0, 0.015, 0.0, 0.005, 0.0]

    async def gen() -> AsyncGenerator[Awaitable[int], None]:
        for i, d in enumerate(delays):
            t.pulled += 1
            yield t.work(i, d)

    out = [r async for r in buffer_ordered(gen(), 3)]
    assert out == list(range(len(delays)))
    assert 1 < t.max_running <= 3


async def test_max_concurrent_keyword_alias() -> None:
    async def gen() -> AsyncGenerator[Awaitable[int], None]:
        for i in range(5):
            yield asyncio.sleep(0, result=i)

    assert [r async for r in buffer_ordered(gen(), max_concurrent=2)] == [0, 1, 2, 3, 4]


async def test_memory_is_bounded_by_a_slow_consumer() -> None:
    t = Tracker()

    async def gen() -> AsyncGenerator[Awaitable[int], None]:
        for i in range(100):
            t.pulled += 1
            yield t.work(i, 0)

    it = buffer_ordered(gen(), 4)
    first = await anext(it)
    await asyncio.sleep(0.01)  # the consumer stalls; the producer must not run ahead
    assert first == 0
    assert t.pulled <= 5
    await it.aclose()


async def test_first_error_is_raised_unwrapped_and_others_cancelled() -> None:
    t = Tracker()

    async def gen() -> AsyncGenerator[Awaitable[int], None]:
        yield t.work(0, 0.5)  # slow head
        yield t.work(1, 0.0, fail=True)  # fails first, behind the head
        yield t.work(2, 0.5)

    with pytest.raises(ValueError, match="boom 1"):
        async with asyncio.timeout(0.3):  # the error must not wait for the slow head
            async for _ in buffer_ordered(gen(), 3):
                pass
    assert t.running == 0
    assert t.cancelled == 2


async def test_producer_error_is_raised() -> None:
    async def gen() -> AsyncGenerator[Awaitable[int], None]:
        yield asyncio.sleep(0, result=1)
        raise KeyError("producer")

    seen = []
    with pytest.raises(KeyError):
        async for r in buffer_ordered(gen(), 1):
            seen.append(r)
    assert seen == [1]


async def test_rejects_bad_concurrency() -> None:
    async def gen() -> AsyncGenerator[Awaitable[int], None]:
        yield asyncio.sleep(0, result=1)

    with pytest.raises(ValueError):
        [r async for r in buffer_ordered(gen(), 0)]
    with pytest.raises(TypeError):
        [r async for r in buffer_ordered(gen())]


async def test_head_is_yielded_as_soon_as_it_is_ready() -> None:
    """A ready head is not held back until slower awaitables behind it finish."""
    t = Tracker()
    release = asyncio.Event()

    async def slow() -> int:
        await release.wait()
        return 1

    async def gen() -> AsyncGenerator[Awaitable[int], None]:
        yield t.work(0, 0)
        yield slow()

    it = buffer_ordered(gen(), 2)
    async with asyncio.timeout(2):
        assert await anext(it) == 0
    release.set()
    assert await anext(it) == 1
    await it.aclose()


@pytest.mark.parametrize(("window", "in_flight"), [(3, 3), (8, 2)])
async def test_a_slow_head_holds_the_window_and_a_semaphore_keeps_requests_running(
    window: int, in_flight: int
) -> None:
    """Behind a slow head, at most `concurrency` awaitables are pulled (the memory bound). The
    documented recipe, a wider window plus a semaphore, keeps requests running meanwhile."""
    release = asyncio.Event()
    limit = asyncio.Semaphore(in_flight)
    pulled = finished = 0

    async def slow_head() -> int:
        async with limit:
            await release.wait()
            return 0

    async def fast(i: int) -> int:
        nonlocal finished
        async with limit:
            await asyncio.sleep(0.001)
            finished += 1
            return i

    async def gen() -> AsyncGenerator[Awaitable[int], None]:
        nonlocal pulled
        for i in range(20):
            pulled += 1
            yield slow_head() if i == 0 else fast(i)

    it = buffer_ordered(gen(), window)
    head = asyncio.ensure_future(anext(it))
    await asyncio.sleep(0.1)
    assert not head.done()
    assert pulled == window and finished == window - 1
    release.set()
    assert await head == 0
    assert [r async for r in it] == list(range(1, 20))
