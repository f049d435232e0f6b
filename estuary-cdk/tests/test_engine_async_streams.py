import asyncio
from collections.abc import AsyncGenerator

import pytest
from estuary_cdk.async_streams import merge


async def numbers(
    start: int, count: int, delay: float, closed: list[int] | None = None
) -> AsyncGenerator[int, None]:
    try:
        for i in range(start, start + count):
            await asyncio.sleep(delay)
            yield i
    finally:
        if closed is not None:
            closed.append(start)


async def test_merges_everything() -> None:
    out = [x async for x in merge(numbers(0, 5, 0.001), numbers(100, 3, 0.0), numbers(200, 0, 0))]
    assert sorted(out) == [0, 1, 2, 3, 4, 100, 101, 102]
    # Each source keeps its own order.
    assert [x for x in out if x < 100] == [0, 1, 2, 3, 4]


async def test_interleaves_in_completion_order() -> None:
    out = [x async for x in merge(numbers(0, 2, 0.05), numbers(100, 2, 0.0))]
    assert out == [100, 101, 0, 1]


async def test_error_propagates_and_cancels_others() -> None:
    closed: list[int] = []

    async def failing() -> AsyncGenerator[int, None]:
        yield -1
        raise ValueError("bad source")

    with pytest.raises(ValueError, match="bad source"):
        async for _ in merge(failing(), numbers(0, 1000, 0.01, closed)):
            pass
    assert closed == [0]


async def test_break_cancels_and_closes_sources() -> None:
    closed: list[int] = []
    it = merge(numbers(0, 1000, 0.001, closed), numbers(5000, 1000, 0.001, closed))
    async for x in it:
        if x >= 0:
            break
    await it.aclose()  # type: ignore[attr-defined]
    assert sorted(closed) == [0, 5000]
