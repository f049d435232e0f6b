"""The workflows binding against the fake (hubspot.md §2.1, §3.7): one response holds every
workflow; the backfill keeps those updated before its cutoff, the realtime stream emits an
edit or a new workflow within a poll, the delayed stream skips what realtime emitted."""

from __future__ import annotations

import functools

from change_streams import Dual, backfill
from fake_hubspot.marketing_control import edit_workflow
from harness import LOG, connected
from source_hubspot_native.api import dual
from source_hubspot_native.api.workflows import PATH, fetch_workflows_page, list_workflows


async def test_the_backfill_is_every_workflow_before_the_cutoff_in_one_request() -> None:
    async with connected() as c:
        cutoff = c.clock.now()
        c.clock.advance(1)
        late = edit_workflow(c.fake, c.fake.marketing.workflows[1]["id"])["id"]
        docs, pages = await backfill(functools.partial(fetch_workflows_page, c.client), cutoff)
        assert pages == []
        store = {w["id"]: w for w in c.fake.marketing.workflows if w["id"] != late}
        assert len(store) == 3
        assert sorted(d.id for d in docs) == sorted(store)
        for doc in docs:
            assert dual.to_ms(doc.updatedAt) == store[doc.id]["updatedAt"]
            assert doc.insertedAt is not None and dual.to_ms(doc.insertedAt) == store[doc.id]["insertedAt"]
        assert len(c.requests(PATH)) == 1


async def test_an_edit_comes_through_realtime_and_the_delayed_stream_skips_it() -> None:
    async with connected() as c:
        streams = Dual(c, "workflows", list_workflows)
        t0 = c.clock.now()
        c.clock.advance(3)
        edited = edit_workflow(c.fake, c.fake.marketing.workflows[0]["id"])
        c.clock.advance(1)
        new = edit_workflow(c.fake)
        docs, cursor = await streams.realtime(t0)
        assert [(d.id, d.name) for d in docs] == [(w["id"], w["name"]) for w in (edited, new)]
        assert dual.to_ms(cursor) == new["updatedAt"]
        assert await streams.realtime(cursor) == ([], cursor)
        assert await streams.delayed_until(t0 - dual.MAX_WINDOW, c.clock.now()) == []
        streams.restart()
        again = await streams.delayed_until(t0, c.clock.now() + dual.MAX_WINDOW)
        assert [d.id for d in again] == [edited["id"], new["id"]]


async def test_a_workflow_edited_through_the_control_api_comes_through_realtime() -> None:
    """`POST /_fake/marketing` (a fake served on its own) makes the same changes as the functions."""
    async with connected() as c:
        streams = Dual(c, "workflows", list_workflows)
        t0 = c.clock.now()
        c.clock.advance(1)
        answer = await c.client.post(LOG, "/_fake/marketing", {"change": "workflow"})
        docs, _ = await streams.realtime(t0)
        assert [d.id for d in docs] == [answer["id"]] and answer["id"] in {
            w["id"] for w in c.fake.marketing.workflows
        }
