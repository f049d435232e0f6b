"""A local Hacker News API (v0) for tests, demos and benchmarks.

Not imported by the connector. Run it with
`poetry run python -m source_hackernews.fake_api --port 8088 --items 1000000 --latency-ms 10`.
"""

from .app import DATA_KEY, make_app, make_lowlevel_server, respond
from .data import STORY_LISTS, FakeHackerNews

__all__ = ["DATA_KEY", "STORY_LISTS", "FakeHackerNews", "make_app", "make_lowlevel_server", "respond"]
