"""A delayed poll with too little settled to read (hubspot.md §2.4, Estuary's 1fc4edc1f):
returning at once, the engine would call it again at once (interval 0) and spin a CPU until
`min_window` has accumulated; it pauses a little first, without a request or a checkpoint."""

from __future__ import annotations

import functools
from datetime import timedelta

import pytest
from change_streams import LAG, cache_name, cursors_of, docs_of
from harness import LOG, collect, connected
from source_hubspot_native.api import dual
from source_hubspot_native.api.workflows import list_workflows


@pytest.mark.parametrize(("short", "paused"), [(timedelta(minutes=2), 10.0), (timedelta(seconds=3), 3.0)])
async def test_a_poll_before_its_window_pauses_then_returns_nothing(short: timedelta, paused: float) -> None:
    async with connected() as c:
        cursor = c.clock.now() - LAG - dual.min_window(LAG) + short
        sent = len(c.server.requests)
        slept = len(c.clock.sleeps)

        lister = functools.partial(list_workflows, c.client)
        out = await collect(
            dual.delayed_changes(cache_name("workflows"), lister, dual.carried, c.clock, LAG, LOG, cursor)
        )
        assert docs_of(out) == [] and cursors_of(out) == []
        assert len(c.server.requests) == sent
        assert c.clock.sleeps[slept:] == [paused]
