"""Serve an aiohttp application on 127.0.0.1 for tests: in the current event loop, or in a
background thread with its own loop (for connectors running as subprocesses)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field

from aiohttp import web

from ._faults import FaultPlan, make_middleware
from ._requests import RequestLog

AppFactory = Callable[[], web.Application]

_SHUTDOWN_TIMEOUT = 0.5


@dataclass
class LocalServer:
    """A running test server. `url` is the base URL without a trailing slash; `faults` is the
    live fault plan and `requests` the log of every request received."""

    app: web.Application
    host: str
    port: int
    faults: FaultPlan = field(default_factory=FaultPlan)
    requests: RequestLog = field(default_factory=RequestLog)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def url_for(self, path: str) -> str:
        """`url` joined with `path` (which should start with `/`)."""
        return self.url + (path if path.startswith("/") else "/" + path)


def _install(app: web.Application, faults: FaultPlan, requests: RequestLog) -> None:
    # Outermost, so every request is logged and faults pre-empt the app's own middlewares.
    app.middlewares.insert(0, make_middleware(faults, requests))


def _bind() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


async def _start(app: web.Application) -> tuple[web.AppRunner, int]:
    # handler_cancellation: a handler still sleeping for a client that gave up (slow-response
    # tests) is cancelled instead of holding up shutdown.
    runner = web.AppRunner(
        app, handler_cancellation=True, access_log=None, shutdown_timeout=_SHUTDOWN_TIMEOUT
    )
    await runner.setup()
    sock = _bind()
    port = sock.getsockname()[1]
    site = web.SockSite(runner, sock)
    await site.start()
    return runner, port


def unused_url(path: str = "/") -> str:
    """A URL on 127.0.0.1 at a port nothing listens on (a connection there is refused). The port
    was free a moment ago; another process could take it, which on a test machine is rare."""
    with contextlib.closing(_bind()) as sock:
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}" + (path if path.startswith("/") else "/" + path)


@contextlib.asynccontextmanager
async def serve_app(
    app: web.Application, *, faults: FaultPlan | None = None, requests: RequestLog | None = None
) -> AsyncIterator[LocalServer]:
    """Serve `app` in the running event loop on a random 127.0.0.1 port until the block exits.

    async with serve_app(app) as server:
        await session.request(log, server.url_for("/items"))
    """
    faults = faults or FaultPlan()
    requests = requests if requests is not None else RequestLog()
    _install(app, faults, requests)
    runner, port = await _start(app)
    try:
        yield LocalServer(app=app, host="127.0.0.1", port=port, faults=faults, requests=requests)
    finally:
        await runner.cleanup()


@contextlib.contextmanager
def serve_app_in_thread(
    app_or_factory: web.Application | AppFactory,
    *,
    faults: FaultPlan | None = None,
    requests: RequestLog | None = None,
) -> Iterator[LocalServer]:
    """Serve an application from a daemon thread running its own event loop, so that blocking
    test code (e.g. `subprocess.run(["flowctl", "preview", ...])`) or a connector in another
    process can reach it. Pass a factory when the app creates loop-bound objects (locks, queues):
    it is called inside the server's loop.

        with serve_app_in_thread(make_app) as server:
            subprocess.run([...], env={**os.environ, "API_URL": server.url}, check=True)
    """
    faults = faults or FaultPlan()
    requests = requests if requests is not None else RequestLog()
    started: Future[LocalServer] = Future()
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    async def run() -> None:
        try:
            app = app_or_factory if isinstance(app_or_factory, web.Application) else app_or_factory()
            _install(app, faults, requests)
            runner, port = await _start(app)
        except BaseException as exc:
            started.set_exception(exc)
            return
        started.set_result(
            LocalServer(app=app, host="127.0.0.1", port=port, faults=faults, requests=requests)
        )
        try:
            await stop.wait()
        finally:
            await runner.cleanup()

    thread = threading.Thread(
        target=loop.run_until_complete, args=(run(),), name="test-http-server", daemon=True
    )
    thread.start()
    try:
        server = started.result(timeout=30)
        yield server
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=10)
        if not thread.is_alive():
            loop.close()
