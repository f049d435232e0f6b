import logging
from collections.abc import AsyncIterator, Iterator

import pytest
from estuary_cdk.http import HTTPMixin
from estuary_cdk.testing import FakeClock, LocalServer, serve_app, serve_app_in_thread
from flowctl.snapshot_diff import pytest_assertrepr_compare  # noqa: F401  (readable snapshot diffs)
from source_hackernews.fake_api import FakeHackerNews, make_app
from source_hackernews.models import EndpointConfig

LOG = logging.getLogger("tests")


@pytest.fixture
def fake() -> FakeHackerNews:
    return FakeHackerNews(seed=3, items=2500)


@pytest.fixture
async def server(fake: FakeHackerNews) -> AsyncIterator[LocalServer]:
    """The fake API in the test's own event loop."""
    async with serve_app(make_app(fake)) as local:
        yield local


@pytest.fixture
def threaded_server(fake: FakeHackerNews) -> Iterator[LocalServer]:
    """The fake API in a background thread, reachable from connector subprocesses."""
    with serve_app_in_thread(lambda: make_app(fake)) as local:
        yield local


@pytest.fixture
async def http() -> AsyncIterator[HTTPMixin]:
    """A real HTTP session whose backoffs and rate-limit waits use a fake clock."""
    session = HTTPMixin()
    session.clock = FakeClock()
    await session._mixin_enter(LOG)
    try:
        yield session
    finally:
        await session._mixin_exit(LOG)


@pytest.fixture
def config(server: LocalServer) -> EndpointConfig:
    return EndpointConfig(base_url=server.url, concurrency=8)
