"""IncrementalJsonProcessor: records by prefix, the remainder, chunk boundaries, errors."""

from __future__ import annotations

from collections.abc import AsyncIterator

import orjson
import pytest
from aiohttp import web
from estuary_cdk.incremental_json_processor import IncrementalJsonProcessor
from estuary_cdk.testing import open_http_session, serve_app
from pydantic import BaseModel, model_validator


async def _chunks(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


class Item(BaseModel):
    id: int
    name: str = ""
    parent: str | None = None

    @model_validator(mode="before")
    @classmethod
    def stamp(cls, data, info):
        if info.context and isinstance(data, dict):
            data = {**data, "parent": info.context["parent"]}
        return data


class Page(BaseModel):
    items: list[dict] = []
    next: str | None = None
    meta: dict = {}


BODY = orjson.dumps(
    {
        "meta": {"count": 3, "nested": {"a": [1, 2]}},
        "items": [
            {"id": 1, "name": "one"},
            {"id": 2, "name": "two", "extra": {"deep": [1, {"x": None}]}},
            {"id": 3},
        ],
        "next": "cursor-2",
    }
)


@pytest.mark.parametrize("chunk", [1, 7, 64, 100_000])
async def test_items_and_remainder_across_chunk_boundaries(chunk: int) -> None:
    processor = IncrementalJsonProcessor(
        _chunks(b"  \n" + BODY, chunk), "items.item", Item, remainder_cls=Page
    )
    with pytest.raises(RuntimeError, match="before fully processing"):
        processor.get_remainder()
    items = [item async for item in processor]
    assert [i.id for i in items] == [1, 2, 3]
    assert items[0].name == "one"
    remainder = processor.get_remainder()
    assert remainder == Page(items=[], next="cursor-2", meta={"count": 3, "nested": {"a": [1, 2]}})


async def test_dicts_without_a_model_and_floats() -> None:
    body = b'{"data": {"rows": [{"v": 1.5, "n": 2}, {"v": -0.25, "n": null}]}}'
    got = [row async for row in IncrementalJsonProcessor(_chunks(body, 5), "data.rows.item")]
    assert got == [{"v": 1.5, "n": 2}, {"v": -0.25, "n": None}]
    assert isinstance(got[0]["v"], float)
    orjson.dumps(got)  # serializable as-is (no Decimal)


async def test_ndjson_whole_lines_and_validation_context() -> None:
    body = b'{"id": 1}\n{"id": 2}\n\n{"id": 3}\n'
    processor = IncrementalJsonProcessor(
        _chunks(body, 3), "", Item, remainder_cls=Page, validation_context={"parent": "p-9"}
    )
    items = [item async for item in processor]
    assert [(i.id, i.parent) for i in items] == [(1, "p-9"), (2, "p-9"), (3, "p-9")]
    assert processor.get_remainder() == Page()


async def test_ndjson_nested_prefix() -> None:
    body = b'{"result": {"id": 1}, "page": 1}\n{"result": {"id": 2}, "page": 2}\n'
    processor = IncrementalJsonProcessor(_chunks(body, 4), "result", Item, remainder_cls=Page)
    assert [i.id async for i in processor] == [1, 2]


@pytest.mark.parametrize("body", [b"", b"   \n\t "])
async def test_empty_input_has_an_empty_remainder(body: bytes) -> None:
    processor = IncrementalJsonProcessor(_chunks(body, 2), "items.item", Item, remainder_cls=Page)
    assert [i async for i in processor] == []
    assert processor.get_remainder() == Page()  # the reference kit fails here


async def test_top_level_array_and_scalars() -> None:
    got = [v async for v in IncrementalJsonProcessor(_chunks(b'[1, "two", {"three": 3}, [4]]', 3), "item")]
    assert got == [1, "two", {"three": 3}, [4]]


async def test_incomplete_and_invalid_json() -> None:
    with pytest.raises(ValueError, match="Incomplete JSON structure"):
        [i async for i in IncrementalJsonProcessor(_chunks(b'{"items": [{"id": 1}, {"id"', 4), "items.item")]
    with pytest.raises(ValueError, match="Invalid JSON"):
        [i async for i in IncrementalJsonProcessor(_chunks(b'{"items": [{"id": 1}, }', 4), "items.item")]


async def test_records_stream_before_the_body_ends() -> None:
    """Items come out as their bytes arrive, not after the whole body: bounded memory."""
    produced: list[int] = []

    async def source() -> AsyncIterator[bytes]:
        yield b'{"items": ['
        for i in range(1000):
            produced.append(i)
            yield (b"," if i else b"") + orjson.dumps({"id": i})
        yield b"]}"

    seen_while_producing = []
    async for item in IncrementalJsonProcessor(source(), "items.item", Item):
        seen_while_producing.append(len(produced) - item.id)
    # When each item is handed out, at most a couple more chunks have been read.
    assert max(seen_while_producing) <= 2


async def test_through_http_request_stream() -> None:
    records = [{"id": i, "name": f"n{i}"} for i in range(5000)]

    async def handler(request: web.Request) -> web.Response:
        return web.json_response({"items": records, "next": None})

    app = web.Application()
    app.router.add_get("/export", handler)
    async with serve_app(app) as server, open_http_session() as http:
        import logging

        _, body = await http.request_stream(logging.getLogger("t"), server.url_for("/export"))
        processor = IncrementalJsonProcessor(body(), "items.item", Item, remainder_cls=Page)
        assert [i.id async for i in processor] == list(range(5000))
        assert processor.get_remainder().next is None


def _slow_reference(body: bytes, prefix: str) -> tuple[list, object]:
    """Items and remainder computed the simple, slow way: from ijson's full path events."""
    import io

    import ijson
    from estuary_cdk.incremental_json_processor import _RemainderBuilder

    items = list(ijson.items(io.BytesIO(body), prefix, multiple_values=True, use_float=True))
    builder = _RemainderBuilder()
    nested = prefix + "." if prefix else ""
    for path, event, value in ijson.parse(io.BytesIO(body), multiple_values=True, use_float=True):
        if not prefix or path == prefix or path.startswith(nested):
            continue
        builder.event(event, value)
    return items, builder.value


def _random_value(rng, depth: int):
    kind = rng.choice(["int", "str", "float", "null", "bool"] + (["map", "list"] * 2 if depth < 4 else []))
    if kind == "map":
        return {
            rng.choice(["a", "b", "items", "data", "item", "next"]) + str(i): _random_value(rng, depth + 1)
            for i in range(rng.randint(0, 3))
        }
    if kind == "list":
        return [_random_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    return {
        "int": rng.randint(-5, 5),
        "str": rng.choice(["", "x", 'é"q\\']),
        "float": 1.5,
        "null": None,
        "bool": True,
    }[kind]


class AnyRemainder(BaseModel, extra="allow"):
    pass


@pytest.mark.parametrize("seed", range(40))
async def test_remainder_matches_the_simple_event_walk(seed: int) -> None:
    import random

    rng = random.Random(seed)
    doc = {
        "meta": _random_value(rng, 1),
        "data0": {
            "items0": [_random_value(rng, 2) for _ in range(rng.randint(0, 4))],
            "n1": rng.randint(0, 9),
        },
        "pages1": [
            {"rows0": [_random_value(rng, 3) for _ in range(2)], "p1": i} for i in range(rng.randint(0, 3))
        ],
        "next2": rng.choice([None, "cursor"]),
    }
    prefix = rng.choice(
        ["data0.items0.item", "pages1.item.rows0.item", "meta", "pages1.item", "next2", "nope.item"]
    )
    lines = rng.random() < 0.3
    body = (orjson.dumps(doc) + b"\n") * (2 if lines else 1)
    expected_items, expected_remainder = _slow_reference(body, prefix)
    processor = IncrementalJsonProcessor(
        _chunks(body, rng.randint(1, 50)), prefix, remainder_cls=AnyRemainder
    )
    assert [item async for item in processor] == expected_items
    assert processor.get_remainder().model_dump() == (expected_remainder or {})
