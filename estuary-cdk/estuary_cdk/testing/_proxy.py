"""A fault-injecting HTTP proxy for tests: put it between a connector and its fake API (or any
HTTP server) and every request goes through a `FaultPlan`, so the same hostile scenarios apply
to any connector without changing its fake.

    with serve_app_in_thread(make_fake_api) as api, serve_proxy(api.url, preset="429-storm") as proxy:
        run_capture(base_url=proxy.url)          # the connector talks to the proxy
        assert proxy.requests.count() > 0

The proxy forwards the method, path, query, headers (less hop-by-hop ones and `Host`) and body,
and answers with the upstream's status, headers and (decoded) body. Faults of the plan answer
instead of the upstream or cut the body it returned, exactly as on a fake served directly
(`serve_app_in_thread`); `proxy.requests` logs what the connector sent.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator

import aiohttp
from aiohttp import web
from multidict import CIMultiDict

from ._faults import FaultPlan
from ._presets import apply_preset
from ._requests import RequestLog
from ._server import LocalServer, serve_app_in_thread

__all__ = ["proxy_app", "serve_proxy"]

_CLIENT = web.AppKey("proxy_client", aiohttp.ClientSession)
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)
# The body is answered decoded (the client session decompresses), so its encoding headers go too.
_NOT_FORWARDED_BACK = _HOP_BY_HOP | {"content-encoding"}


def proxy_app(upstream: str) -> web.Application:
    """An application forwarding every request to `upstream` (a base URL such as
    `http://127.0.0.1:8080`; a path prefix of it is kept)."""
    base = upstream.rstrip("/")

    async def client(app: web.Application) -> AsyncIterator[None]:
        # Redirects are the connector's to follow: the proxy passes a 3xx through as it is.
        session = aiohttp.ClientSession(auto_decompress=True, timeout=aiohttp.ClientTimeout(total=None))
        app[_CLIENT] = session
        yield
        await session.close()

    async def forward(request: web.Request) -> web.StreamResponse:
        headers = CIMultiDict((k, v) for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP)
        body = await request.read()  # read once already by the fault middleware: cached
        async with request.app[_CLIENT].request(
            request.method,
            base + request.rel_url.raw_path_qs,
            headers=headers,
            data=body or None,
            allow_redirects=False,
        ) as upstream_response:
            payload = await upstream_response.read()
            back = CIMultiDict(
                (k, v) for k, v in upstream_response.headers.items() if k.lower() not in _NOT_FORWARDED_BACK
            )
            return web.Response(status=upstream_response.status, headers=back, body=payload)

    app = web.Application()
    app.cleanup_ctx.append(client)
    app.router.add_route("*", "/{tail:.*}", forward)
    return app


@contextlib.contextmanager
def serve_proxy(
    upstream: str,
    *,
    preset: str | None = None,
    faults: FaultPlan | None = None,
    requests: RequestLog | None = None,
) -> Iterator[LocalServer]:
    """Serve a proxy to `upstream` on 127.0.0.1 from a thread (connectors under test run as
    subprocesses). `preset` names a scenario of `PRESETS` to start with (its defaults: see
    `apply_preset` for other paths and counts); `server.faults` takes more while it runs."""
    with serve_app_in_thread(lambda: proxy_app(upstream), faults=faults, requests=requests) as server:
        if preset is not None:
            apply_preset(server.faults, preset)
        yield server
