"""A benchmark's local HTTP server: an aiohttp app on 127.0.0.1 in a separate (forked) process,
so serving doesn't share the measured client's core.

    with local_server(lambda: make_app(...)) as base:   # "http://127.0.0.1:<port>"
        ...

`make_app` runs in the child process (pre-rendering bodies there too); the server is stopped
when the block exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
from collections.abc import Callable, Iterator

from aiohttp import web


def _run(make_app: Callable[[], web.Application], ports: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    async def main() -> None:
        runner = web.AppRunner(make_app(), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        ports.put(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
        await asyncio.Event().wait()

    asyncio.run(main())


@contextlib.contextmanager
def local_server(make_app: Callable[[], web.Application]) -> Iterator[str]:
    """Serve `make_app()` in a forked process; yield its base URL; stop it on exit."""
    ctx = multiprocessing.get_context("fork")
    ports: multiprocessing.Queue = ctx.Queue()  # type: ignore[type-arg]
    server = ctx.Process(target=_run, args=(make_app, ports), daemon=True)
    server.start()
    try:
        yield f"http://127.0.0.1:{ports.get(timeout=60)}"
    finally:
        server.terminate()
        server.join()
