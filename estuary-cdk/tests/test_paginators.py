"""Paginators against a local paged API: complete, ordered, resumable, cycle-safe."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from estuary_cdk.http import HTTPMixin, PaginationCycleError, RetryPolicy
from estuary_cdk.paginators import (
    CursorPaginator,
    LinkHeaderPaginator,
    NextUrlPaginator,
    OffsetPaginator,
    PageNumberPaginator,
    Paginator,
    select,
)
from estuary_cdk.testing import FakeClock, LocalServer, open_http_session, serve_app

LOG = logging.getLogger("flow.test.paginators")
TOTAL = 95
SIZE = 10
RECORDS = [{"id": i} for i in range(TOTAL)]


def _slice(start: int, size: int = SIZE) -> list[dict]:
    return RECORDS[start : start + size]


async def _cursor(request: web.Request) -> web.Response:
    start = int(request.query.get("after", "0").removeprefix("tok-"))
    page = _slice(start)
    more = start + SIZE < TOTAL
    return web.json_response({"data": page, "paging": {"next": f"tok-{start + SIZE}" if more else None}})


async def _cursor_cycle(request: web.Request) -> web.Response:
    # Past the second page the API keeps answering with an already used token.
    start = int(request.query.get("after", "0").removeprefix("tok-"))
    nxt = "tok-10" if start >= 20 else f"tok-{start + SIZE}"
    return web.json_response({"data": _slice(start), "paging": {"next": nxt}})


async def _next_url(request: web.Request) -> web.Response:
    start = int(request.query.get("start", "0"))
    assert request.query.get("sort") == "id"  # carried in every next URL
    more = start + SIZE < TOTAL
    return web.json_response(
        {"value": _slice(start), "@odata.nextLink": f"next?start={start + SIZE}&sort=id" if more else None}
    )


async def _link(request: web.Request) -> web.Response:
    page = int(request.query.get("page", "1"))
    start = (page - 1) * SIZE
    links = [f'<{request.url.with_query(page=1)}>; rel="first"']
    if start + SIZE < TOTAL:
        links.append(f'<{request.url.with_query(page=page + 1)}>; rel="next"')
    return web.json_response(_slice(start), headers={"Link": ", ".join(links)})


async def _offset(request: web.Request) -> web.Response:
    offset, limit = int(request.query["offset"]), int(request.query["limit"])
    return web.json_response({"results": _slice(offset, limit), "total": TOTAL})


async def _pages(request: web.Request) -> web.Response:
    page, size = int(request.query["p"]), int(request.query.get("per_page", SIZE))
    return web.json_response(
        {"items": _slice(page * size, size), "meta": {"pages": (TOTAL + size - 1) // size}}
    )


def _app() -> web.Application:
    app = web.Application()
    app.router.add_get("/cursor", _cursor)
    app.router.add_get("/cycle", _cursor_cycle)
    app.router.add_get("/odata/items", _next_url)
    app.router.add_get("/odata/next", _next_url)
    app.router.add_get("/link", _link)
    app.router.add_get("/offset", _offset)
    app.router.add_get("/pages", _pages)
    return app


@pytest.fixture
async def server() -> AsyncIterator[LocalServer]:
    async with serve_app(_app()) as srv:
        yield srv


@pytest.fixture
async def http() -> AsyncIterator[HTTPMixin]:
    async with open_http_session(clock=FakeClock(), retry_policy=RetryPolicy(jitter=0)) as s:
        yield s


async def _walk(paginator: Paginator, http: HTTPMixin, url: str, **kwargs) -> list[int]:
    return [r["id"] async for page in paginator.pages(http, LOG, url, **kwargs) for r in page.records]


EXPECTED = list(range(TOTAL))


async def test_cursor_paginator(http: HTTPMixin, server: LocalServer) -> None:
    pager = CursorPaginator(next_cursor="paging.next", cursor_param="after", records="data")
    assert await _walk(pager, http, server.url_for("/cursor")) == EXPECTED
    assert server.requests.paths()[:2] == ["/cursor", "/cursor?after=tok-10"]
    assert pager.cursor is None


async def test_next_url_paginator(http: HTTPMixin, server: LocalServer) -> None:
    pager = NextUrlPaginator(next_url=lambda body, _: body.get("@odata.nextLink"), records="value")
    assert await _walk(pager, http, server.url_for("/odata/items"), params={"sort": "id"}) == EXPECTED
    assert server.requests.paths()[1] == "/odata/next?start=10&sort=id"


async def test_link_header_paginator(http: HTTPMixin, server: LocalServer) -> None:
    assert await _walk(LinkHeaderPaginator(), http, server.url_for("/link")) == EXPECTED
    assert len(server.requests) == 10


async def test_offset_paginator(http: HTTPMixin, server: LocalServer) -> None:
    pager = OffsetPaginator(limit=SIZE, records="results", total="total")
    assert await _walk(pager, http, server.url_for("/offset")) == EXPECTED
    # total reached: no request for an empty page after the short last one
    assert server.requests.paths()[-1] == "/offset?offset=90&limit=10"
    # An API that caps the page size below the requested limit: don't stop on short pages.
    server.requests.clear()
    pager = OffsetPaginator(limit=50, records=lambda body: body["results"][:20], stop_on_short_page=False)
    got = await _walk(pager, http, server.url_for("/offset"))
    assert got == EXPECTED  # pages of 20 from offsets 0, 20, ..., 80, then an empty one
    assert server.requests.paths()[-1] == "/offset?offset=95&limit=50"


async def test_page_number_paginator(http: HTTPMixin, server: LocalServer) -> None:
    pager = PageNumberPaginator(page_param="p", start=0, total_pages="meta.pages", records="items")
    assert await _walk(pager, http, server.url_for("/pages")) == EXPECTED
    assert len(server.requests) == 10
    server.requests.clear()
    pager = PageNumberPaginator(page_param="p", start=0, page_size=25, size_param="per_page", records="items")
    assert await _walk(pager, http, server.url_for("/pages")) == EXPECTED
    assert server.requests.paths() == [f"/pages?p={n}&per_page=25" for n in range(4)]


async def test_resume_from_a_page_cursor_like_fetch_page(http: HTTPMixin, server: LocalServer) -> None:
    """The engine calls fetch_page once per page with the cursor yielded last time; a restart
    resumes from the checkpointed cursor."""
    pager = CursorPaginator(next_cursor="paging.next", cursor_param="after", records="data")

    async def fetch_page(page: str | int | None) -> AsyncIterator[dict | str | int]:
        result = await pager.fetch(http, LOG, server.url_for("/cursor"), page)
        for doc in result.records:
            yield doc
        if result.next_cursor is not None:
            yield result.next_cursor

    emitted: list[int] = []
    checkpoint: str | int | None = None
    for _ in range(3):  # three pages, then the process "restarts"
        async for item in fetch_page(checkpoint):
            if isinstance(item, dict):
                emitted.append(item["id"])
            else:
                checkpoint = item
    assert checkpoint == "tok-30"
    pager = CursorPaginator(next_cursor="paging.next", cursor_param="after", records="data")  # fresh process
    while checkpoint is not None:
        cursor, checkpoint = checkpoint, None
        async for item in fetch_page(cursor):
            if isinstance(item, dict):
                emitted.append(item["id"])
            else:
                checkpoint = item
    assert emitted == EXPECTED


async def test_cycle_is_detected(http: HTTPMixin, server: LocalServer) -> None:
    pager = CursorPaginator(next_cursor="paging.next", cursor_param="after", records="data")
    seen: list[int] = []
    with pytest.raises(PaginationCycleError) as err:
        async for page in pager.pages(http, LOG, server.url_for("/cycle")):
            seen.extend(r["id"] for r in page.records)
    assert err.value.token == "tok-10"
    assert "pagination cycle" in str(err.value) and "'tok-10'" in str(err.value)
    assert seen == list(range(20))  # the pages before the cycle, each exactly once
    assert len(server.requests) == 3


async def test_a_paginator_can_walk_again_from_the_first_page(http: HTTPMixin, server: LocalServer) -> None:
    """A module-level paginator that a fetch_page reuses: the backfill runs again (a re-backfill,
    the next snapshot) from cursor None, and its cursors are not mistaken for a cycle."""
    pager = OffsetPaginator(limit=SIZE, records="results", total="total")
    assert await _walk(pager, http, server.url_for("/offset")) == EXPECTED
    assert await _walk(pager, http, server.url_for("/offset")) == EXPECTED
    ahead = PageNumberPaginator(page_param="p", start=0, page_size=25, size_param="per_page", records="items")
    for _ in range(2):
        got = [
            r["id"]
            async for page in ahead.pages_ahead(http, LOG, server.url_for("/pages"))
            for r in page.records
        ]
        assert got == EXPECTED


async def test_same_token_twice_in_a_row(http: HTTPMixin) -> None:
    async def stuck(request: web.Request) -> web.Response:
        return web.json_response({"data": [{"id": 1}], "next": "same"})

    app = web.Application()
    app.router.add_get("/stuck", stuck)
    async with serve_app(app) as server:
        pager = CursorPaginator(next_cursor="next", records="data")
        first = await pager.fetch(http, LOG, server.url_for("/stuck"))
        assert first.next_cursor == "same"
        with pytest.raises(PaginationCycleError):
            await pager.fetch(http, LOG, server.url_for("/stuck"), first.next_cursor)
        pager.reset()
        assert (await pager.fetch(http, LOG, server.url_for("/stuck"))).next_cursor == "same"


async def test_faults_mid_pagination_lose_nothing(http: HTTPMixin, server: LocalServer) -> None:
    server.faults.truncate_body(path="/offset", times=1)
    server.faults.server_errors((502,), path="/offset")
    server.faults.rate_limit(path="/offset", retry_after=2)
    pager = OffsetPaginator(limit=SIZE, records="results", total="total")
    assert await _walk(pager, http, server.url_for("/offset")) == EXPECTED


def test_select() -> None:
    body = {"a": {"b": [{"c": 1}, {"c": 2}]}, "n": None}
    assert select(body, "a.b.1.c") == 2
    assert select(body, "a.b.-1.c") == 2
    assert select(body, "a.x.c") is None
    assert select(body, "n.x") is None
    assert select(body, "a.b.5") is None
    assert select(body, "") is body


async def test_pages_ahead_fetches_concurrently_in_order(http: HTTPMixin) -> None:
    in_flight = 0
    peak = 0

    async def slow_offset(request: web.Request) -> web.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        try:
            await asyncio.sleep(0.01)
            offset, limit = int(request.query["offset"]), int(request.query["limit"])
            return web.json_response({"results": _slice(offset, limit)})
        finally:
            in_flight -= 1

    app = web.Application()
    app.router.add_get("/offset", slow_offset)
    async with serve_app(app) as server:
        server.faults.server_errors((500,), path="/offset")  # one failure mid-way is retried
        pager = OffsetPaginator(limit=SIZE, records="results")
        pages = [
            page async for page in pager.pages_ahead(http, LOG, server.url_for("/offset"), concurrency=4)
        ]
    assert [r["id"] for p in pages for r in p.records] == EXPECTED
    assert [p.next_cursor for p in pages] == [*range(10, 100, 10), None]
    assert 2 <= peak <= 4
    # 10 pages + the retried 500 + at most 3 speculative requests past the end
    assert 11 <= len(server.requests) <= 14
    assert pager.cursor is None


async def test_pages_ahead_resumes_and_falls_back_on_short_pages(
    http: HTTPMixin, server: LocalServer
) -> None:
    pager = PageNumberPaginator(page_param="p", start=0, total_pages="meta.pages", records="items")
    got = [
        r["id"]
        async for page in pager.pages_ahead(http, LOG, server.url_for("/pages"), 5)
        for r in page.records
    ]
    assert got == EXPECTED[50:]
    # The API returns 20 records when asked for 50: predicted offsets are wrong, so the rest is
    # fetched sequentially from the real next offset, and nothing is lost or repeated.
    server.requests.clear()
    pager2 = OffsetPaginator(limit=50, records=lambda body: body["results"][:20], stop_on_short_page=False)
    got = [
        r["id"]
        async for page in pager2.pages_ahead(http, LOG, server.url_for("/offset"), concurrency=3)
        for r in page.records
    ]
    assert got == EXPECTED
