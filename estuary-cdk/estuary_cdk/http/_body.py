"""The body of a successful aiohttp response, readable once: streamed, or whole."""

from __future__ import annotations

from collections.abc import AsyncGenerator

from ._aiohttp import aiohttp
from ._errors import ResponseBodyError
from ._redact import redact
from ._spec import RequestSpec
from ._transport import body_read_errors, describe


class ResponseBody:
    """Streamed through `__call__()` (the `BodyGeneratorFunction` contract of
    `request_stream`/`request_lines`) or read whole through `read_all()` (what `request` uses:
    one read instead of a generator step per chunk). Either releases the connection at the end.
    """

    __slots__ = ("_resp", "_spec")

    def __init__(self, resp: aiohttp.ClientResponse, spec: RequestSpec) -> None:
        self._resp = resp
        self._spec = spec

    def __call__(self) -> AsyncGenerator[bytes, None]:
        return self._stream()

    async def _stream(self) -> AsyncGenerator[bytes, None]:
        try:
            async for chunk in self._resp.content.iter_any():
                yield chunk
        except body_read_errors() as exc:
            scrubbed = self._spec.scrubbed_url()
            raise ResponseBodyError(
                f"Reading the response body failed mid-stream: {redact(describe(exc))}\nURL: {scrubbed}",
                0,
                url=scrubbed,
                headers=self._resp.headers,
            ) from exc
        finally:
            self._resp.release()

    async def read_all(self) -> bytes:
        try:
            return await self._resp.read()
        finally:
            self._resp.release()


async def read_error_body(resp: aiohttp.ClientResponse) -> bytes:
    """The body of an error response, for the error message and `should_retry` (empty if it
    cannot be read: the status alone decides what happens next)."""
    try:
        return await resp.read()
    except body_read_errors():
        return b""
    finally:
        resp.release()
