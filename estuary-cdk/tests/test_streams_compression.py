"""GunzipStream and UnzipStream, standalone and chained with the JSON processor over HTTP."""

from __future__ import annotations

import gzip
import io
import logging
import zipfile
from collections.abc import AsyncIterator

import orjson
import pytest
from aiohttp import web
from estuary_cdk.gunzip_stream import GunzipStream
from estuary_cdk.incremental_json_processor import IncrementalJsonProcessor
from estuary_cdk.testing import open_http_session, serve_app
from estuary_cdk.unzip_stream import UnzipStream


async def _chunks(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


PAYLOAD = b"".join(orjson.dumps({"id": i, "text": "lorem ipsum " * 3}) + b"\n" for i in range(3000))


@pytest.mark.parametrize("chunk", [1, 333, 1 << 20])
async def test_gunzip(chunk: int) -> None:
    stream = GunzipStream(_chunks(gzip.compress(PAYLOAD), chunk))
    out = b"".join([c async for c in stream])
    assert out == PAYLOAD and stream.done


async def test_gunzip_multi_member_and_bounded_output() -> None:
    data = gzip.compress(b"first\n") + gzip.compress(b"second\n")
    assert b"".join([c async for c in GunzipStream(_chunks(data, 5))]) == b"first\nsecond\n"
    # 64 MiB of zeros compress to ~64 KiB; no single output piece exceeds 1 MiB.
    bomb = gzip.compress(b"\0" * (64 << 20))
    sizes = [len(c) async for c in GunzipStream(_chunks(bomb, 1 << 16))]
    assert sum(sizes) == 64 << 20 and max(sizes) <= 1 << 20


async def test_gunzip_truncated() -> None:
    data = gzip.compress(PAYLOAD)
    with pytest.raises(EOFError):
        [c async for c in GunzipStream(_chunks(data[: len(data) // 2], 100))]


async def test_unzip_concatenates_files() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("a.ndjson", PAYLOAD[:1000])
        archive.writestr("b.ndjson", PAYLOAD[1000:])
    stream = UnzipStream(_chunks(buffer.getvalue(), 4096))
    assert b"".join([c async for c in stream]) == PAYLOAD
    assert stream.done


async def test_gzip_ndjson_over_http() -> None:
    compressed = gzip.compress(PAYLOAD)

    async def export(request: web.Request) -> web.Response:
        # A file download: gzip bytes, not Content-Encoding (which aiohttp would undo itself).
        return web.Response(body=compressed, content_type="application/gzip")

    app = web.Application()
    app.router.add_get("/export.ndjson.gz", export)
    async with serve_app(app) as server, open_http_session() as http:
        _, body = await http.request_stream(logging.getLogger("t"), server.url_for("/export.ndjson.gz"))
        ids = [doc["id"] async for doc in IncrementalJsonProcessor(GunzipStream(body()), "")]
    assert ids == list(range(3000))
