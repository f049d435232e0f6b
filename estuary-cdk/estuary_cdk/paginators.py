"""Pagination strategies that a `fetch_page` / `fetch_changes` can drive one page at a time.

Every paginator turns a page cursor (`None` for the first page) into a request, and the
response into records plus the cursor of the next page (`None` after the last page). Cursors
are plain `str`/`int` values, so they can be yielded as the engine's `PageCursor` and a backfill
resumes exactly where it stopped:

    pages = OffsetPaginator(limit=100, records="data")

    async def fetch_page(log, page, cutoff):
        result = await pages.fetch(http, log, f"{API}/items", page, params={"sort": "id"})
        for doc in result.records:
            yield doc
        if result.next_cursor is not None:
            yield result.next_cursor

or, to walk everything: `async for page in pages.pages(http, log, url): ...`.

Offset and page-number cursors are predictable, so `OffsetPaginator`/`PageNumberPaginator` also
offer `pages_ahead(..., concurrency=N)`: the next pages are requested while earlier ones are
consumed (through `buffer_ordered`), still yielded in order with a cursor to checkpoint after
each — page-level concurrency for a backfill without giving up resumability.

A paginator remembers the cursors it has fetched since the first page. An API that hands back
a cursor already fetched (a cycle, e.g. HubSpot's search past 10k results) raises
`PaginationCycleError` instead of looping forever or re-emitting the same pages. Fetching the
first page (cursor `None`) starts over; don't share one paginator between iterations that run
at the same time (e.g. two bindings' backfills): give each its own.
"""

from __future__ import annotations

import abc
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

import orjson
import xxhash
from multidict import CIMultiDict, CIMultiDictProxy

from .http import Headers, HTTPSession, PaginationCycleError, redact, scrub_url

__all__ = [
    "CursorPaginator",
    "LinkHeaderPaginator",
    "NextUrlPaginator",
    "OffsetPaginator",
    "Page",
    "PageNumberPaginator",
    "PageToken",
    "PaginationCycleError",
    "Paginator",
    "RecordsSelector",
    "ValueSelector",
    "select",
]

PageToken = str | int
RecordsSelector = str | Callable[[Any], list[Any]] | None
ValueSelector = str | Callable[[Any, Headers], Any]

_EMPTY_HEADERS: Headers = CIMultiDictProxy(CIMultiDict())


def select(body: Any, path: str) -> Any:
    """The value at a dotted `path` in a parsed JSON body (`"data.items"`, `"links.next"`,
    `"pages.0.id"`); `None` if any step is missing. An empty path is the body itself."""
    value = body
    for part in path.split(".") if path else ():
        if isinstance(value, Mapping):
            value = value.get(part)
        elif isinstance(value, list) and part.lstrip("-").isdigit():
            index = int(part)
            value = value[index] if -len(value) <= index < len(value) else None
        else:
            return None
        if value is None:
            return None
    return value


def _value(selector: ValueSelector, body: Any, headers: Headers) -> Any:
    return selector(body, headers) if callable(selector) else select(body, selector)


@dataclass(frozen=True)
class Page:
    """One fetched page: its `records`, the `cursor` it was fetched with, the `next_cursor`
    (`None`: this was the last page), and the parsed `body` and response `headers`."""

    records: list[Any]
    cursor: PageToken | None
    next_cursor: PageToken | None
    body: Any
    headers: Headers


class Paginator(abc.ABC):
    """Base of the pagination strategies. `records` picks the records out of a parsed body: a
    dotted path, a callable, or `None` when the body itself is the list of records."""

    def __init__(self, *, records: RecordsSelector = None) -> None:
        self.records_selector = records
        self.cursor: PageToken | None = None
        self._seen: set[int] = set()

    # --- strategy ---------------------------------------------------------------------------

    @abc.abstractmethod
    def request_for(
        self, url: str, params: dict[str, Any], cursor: PageToken | None
    ) -> tuple[str, dict[str, Any]]:
        """The URL and query parameters that fetch the page at `cursor`."""

    @abc.abstractmethod
    def next_cursor(
        self, cursor: PageToken | None, body: Any, headers: Headers, records: list[Any]
    ) -> PageToken | None:
        """The cursor of the page after `cursor`, or `None` if there is none."""

    # --- driving ----------------------------------------------------------------------------

    def records_of(self, body: Any) -> list[Any]:
        selector = self.records_selector
        if callable(selector):
            found = selector(body)
        elif selector is None:
            found = body
        else:
            found = select(body, selector)
        if found is None:
            return []
        if not isinstance(found, list):
            raise TypeError(f"expected a list of records at {selector!r}, got {type(found).__name__}")
        return found

    def reset(self) -> None:
        """Forget the cursors seen so far (to start a new iteration with this paginator)."""
        self._seen.clear()
        self.cursor = None

    async def fetch(
        self,
        http: HTTPSession,
        log: logging.Logger,
        url: str,
        cursor: PageToken | None = None,
        *,
        params: Mapping[str, Any] | None = None,
        method: str = "GET",
        json: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Page:
        """Fetch the page at `cursor` (`None`: the first page) and work out the next cursor.
        Fetching the first page starts a new iteration (the cursors seen so far are forgotten),
        so a paginator a `fetch_page` reuses survives its backfill being run again."""
        if cursor is None:
            self.reset()
        self._remember(cursor)
        page = await self._fetch_page(http, log, url, cursor, params, method, json, headers)
        self._check_cycle(page)
        self.cursor = page.next_cursor
        return page

    async def _fetch_page(
        self,
        http: HTTPSession,
        log: logging.Logger,
        url: str,
        cursor: PageToken | None,
        params: Mapping[str, Any] | None,
        method: str,
        json: Any,
        headers: dict[str, str] | None,
    ) -> Page:
        req_url, req_params = self.request_for(url, dict(params or {}), cursor)
        resp_headers, raw = await http.request_with_headers(
            log, req_url, method, params=req_params or None, json=json, headers=headers
        )
        body = orjson.loads(raw) if raw and not raw.isspace() else None
        records = self.records_of(body)
        following = self.next_cursor(cursor, body, resp_headers, records)
        return Page(records=records, cursor=cursor, next_cursor=following, body=body, headers=resp_headers)

    def _check_cycle(self, page: Page) -> None:
        following = page.next_cursor
        if following is None or (following != page.cursor and self._key(following) not in self._seen):
            return
        shown = (
            scrub_url(following)
            if isinstance(following, str) and "://" in following
            else redact(repr(following))
        )
        raise PaginationCycleError(
            f"pagination cycle: the API returned the page cursor {shown[:300]} again, which was already "
            f"fetched; stopping instead of fetching the same pages forever (after the page at "
            f"{redact(repr(page.cursor))[:300]})",
            following,
        )

    async def pages(
        self,
        http: HTTPSession,
        log: logging.Logger,
        url: str,
        cursor: PageToken | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[Page]:
        """Every page from `cursor` to the last one."""
        while True:
            page = await self.fetch(http, log, url, cursor, **kwargs)
            yield page
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    @staticmethod
    def _key(cursor: PageToken) -> int:
        return xxhash.xxh3_64_intdigest(f"{type(cursor).__name__}:{cursor}".encode())

    def _remember(self, cursor: PageToken | None) -> None:
        if cursor is not None:
            self._seen.add(self._key(cursor))


def _falsy_stop(value: Any) -> PageToken | None:
    if value is None or value is False or value == "":
        return None
    if isinstance(value, bool):
        raise TypeError("a page cursor must be a string or an integer, got a boolean")
    if isinstance(value, int | str):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise TypeError(f"a page cursor must be a string or an integer, got {type(value).__name__}")


class CursorPaginator(Paginator):
    """Next-token pagination: the body (or headers) carries an opaque token for the next page,
    sent back as the query parameter `cursor_param`. `next_cursor` is a dotted path into the
    body or a callable `(body, headers) -> token`; an empty/missing token ends the iteration, as
    does a false `has_more` (dotted path) when given."""

    def __init__(
        self,
        *,
        next_cursor: ValueSelector,
        cursor_param: str = "cursor",
        has_more: str | None = None,
        records: RecordsSelector = None,
    ) -> None:
        super().__init__(records=records)
        self.next_cursor_selector = next_cursor
        self.cursor_param = cursor_param
        self.has_more = has_more

    def request_for(
        self, url: str, params: dict[str, Any], cursor: PageToken | None
    ) -> tuple[str, dict[str, Any]]:
        if cursor is not None:
            params[self.cursor_param] = cursor
        return url, params

    def next_cursor(
        self, cursor: PageToken | None, body: Any, headers: Headers, records: list[Any]
    ) -> PageToken | None:
        if self.has_more is not None and not select(body, self.has_more):
            return None
        return _falsy_stop(_value(self.next_cursor_selector, body, headers))


class NextUrlPaginator(Paginator):
    """The body carries the full URL of the next page (`links.next`, `@odata.nextLink`,
    `paging.next`...). The first request uses `url` and `params`; later ones use the next URL
    as given (relative URLs are resolved against the current one) without re-adding params."""

    def __init__(self, *, next_url: ValueSelector, records: RecordsSelector = None) -> None:
        super().__init__(records=records)
        self.next_url_selector = next_url
        self._base: str | None = None

    def request_for(
        self, url: str, params: dict[str, Any], cursor: PageToken | None
    ) -> tuple[str, dict[str, Any]]:
        if cursor is None:
            self._base = url
            return url, params
        target = urljoin(self._base or url, str(cursor))
        self._base = target
        return target, {}

    def next_cursor(
        self, cursor: PageToken | None, body: Any, headers: Headers, records: list[Any]
    ) -> PageToken | None:
        found = _falsy_stop(_value(self.next_url_selector, body, headers))
        return None if found is None else urljoin(self._base or "", str(found))


_LINK = re.compile(r"<([^>]*)>\s*((?:;\s*[^;,]+)*)")
_REL = re.compile(r"""rel\s*=\s*"?([^";]+)"?""", re.IGNORECASE)


def parse_link_header(value: str) -> dict[str, str]:
    """The URLs of an RFC 8288 `Link` header by relation type (`{"next": url, ...}`)."""
    links: dict[str, str] = {}
    for match in _LINK.finditer(value):
        rel = _REL.search(match.group(2) or "")
        if rel:
            for name in rel.group(1).split():
                links.setdefault(name.lower(), match.group(1))
    return links


class LinkHeaderPaginator(NextUrlPaginator):
    """The next page's URL is in the `Link` response header (`rel="next"`, GitHub style)."""

    def __init__(self, *, rel: str = "next", records: RecordsSelector = None) -> None:
        super().__init__(next_url=self._from_header, records=records)
        self.rel = rel.lower()

    def _from_header(self, body: Any, headers: Headers) -> str | None:
        value = headers.get("Link")
        return parse_link_header(value).get(self.rel) if value else None


class _SteppedPaginator(Paginator):
    """A paginator whose cursors are predictable (`first`, `first + step`, ...), so pages can be
    fetched ahead concurrently."""

    @abc.abstractmethod
    def _first(self) -> int:
        """The cursor of the first page."""

    @abc.abstractmethod
    def _step(self) -> int:
        """The distance between consecutive full pages' cursors."""

    async def pages_ahead(
        self,
        http: HTTPSession,
        log: logging.Logger,
        url: str,
        cursor: PageToken | None = None,
        *,
        concurrency: int = 4,
        params: Mapping[str, Any] | None = None,
        method: str = "GET",
        json: Any = None,
        headers: dict[str, str] | None = None,
    ) -> AsyncIterator[Page]:
        """Every page from `cursor` on, like `pages()`, but with up to `concurrency` requests in
        flight for the following cursors; pages are still yielded in order, each with its
        `next_cursor` to checkpoint. Past the last page at most `concurrency - 1` speculative
        requests are wasted. If the API returns a page shorter than the step mid-way (so the
        predicted cursors are wrong), the rest is fetched sequentially."""
        from .buffer_ordered import buffer_ordered

        if cursor is None:
            self.reset()
        start = self._first() if cursor is None else int(cursor)
        step = self._step()

        async def requests() -> AsyncIterator[Awaitable[Page]]:
            position = start
            while True:
                yield self._fetch_page(http, log, url, position, params, method, json, headers)
                position += step

        following: PageToken | None = None
        source = buffer_ordered(requests(), concurrency)
        try:
            async for page in source:
                self._remember(page.cursor)
                self.cursor = page.next_cursor
                yield page
                following = page.next_cursor
                if following is None:
                    return
                if following != int(page.cursor or 0) + step:
                    break  # a short page: predicted cursors are off from here
        finally:
            await source.aclose()
        async for page in self.pages(
            http, log, url, following, params=params, method=method, json=json, headers=headers
        ):
            yield page


class OffsetPaginator(_SteppedPaginator):
    """`offset`/`limit` pagination. The cursor is the offset of the page. Iteration ends on an
    empty page, when `total` (a dotted path to the total count) is reached, or — unless
    `stop_on_short_page=False`, for APIs that may return fewer than `limit` mid-way — on a page
    shorter than `limit`."""

    def __init__(
        self,
        *,
        limit: int,
        offset_param: str = "offset",
        limit_param: str = "limit",
        start: int = 0,
        total: str | None = None,
        stop_on_short_page: bool = True,
        records: RecordsSelector = None,
    ) -> None:
        super().__init__(records=records)
        if limit < 1:
            raise ValueError("limit must be positive")
        self.limit = limit
        self.offset_param = offset_param
        self.limit_param = limit_param
        self.start = start
        self.total = total
        self.stop_on_short_page = stop_on_short_page

    def _first(self) -> int:
        return self.start

    def _step(self) -> int:
        return self.limit

    def request_for(
        self, url: str, params: dict[str, Any], cursor: PageToken | None
    ) -> tuple[str, dict[str, Any]]:
        params[self.offset_param] = self.start if cursor is None else int(cursor)
        params[self.limit_param] = self.limit
        return url, params

    def next_cursor(
        self, cursor: PageToken | None, body: Any, headers: Headers, records: list[Any]
    ) -> PageToken | None:
        if not records or (self.stop_on_short_page and len(records) < self.limit):
            return None
        following = (self.start if cursor is None else int(cursor)) + len(records)
        if self.total is not None:
            total = select(body, self.total)
            if isinstance(total, int | float) and following >= total:
                return None
        return following


class PageNumberPaginator(_SteppedPaginator):
    """Page-number pagination (`?page=N`, starting at `start`). The cursor is the page number.
    Iteration ends on an empty page, after `total_pages` (a dotted path) pages, or on a page
    shorter than `page_size` when that is given (it is also sent as `size_param` if set)."""

    def __init__(
        self,
        *,
        page_param: str = "page",
        start: int = 1,
        page_size: int | None = None,
        size_param: str | None = None,
        total_pages: str | None = None,
        records: RecordsSelector = None,
    ) -> None:
        super().__init__(records=records)
        self.page_param = page_param
        self.start = start
        self.page_size = page_size
        self.size_param = size_param
        self.total_pages = total_pages

    def _first(self) -> int:
        return self.start

    def _step(self) -> int:
        return 1

    def request_for(
        self, url: str, params: dict[str, Any], cursor: PageToken | None
    ) -> tuple[str, dict[str, Any]]:
        params[self.page_param] = self.start if cursor is None else int(cursor)
        if self.size_param and self.page_size:
            params[self.size_param] = self.page_size
        return url, params

    def next_cursor(
        self, cursor: PageToken | None, body: Any, headers: Headers, records: list[Any]
    ) -> PageToken | None:
        page = self.start if cursor is None else int(cursor)
        if not records or (self.page_size is not None and len(records) < self.page_size):
            return None
        if self.total_pages is not None:
            total = select(body, self.total_pages)
            # Pages counted from `start`: the last page number is start + total - 1.
            if isinstance(total, int | float) and page - self.start + 1 >= total:
                return None
        return page + 1
