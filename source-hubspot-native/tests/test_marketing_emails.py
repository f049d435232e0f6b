"""The marketing_emails binding against the fake (hubspot.md §2.1, §3.7): the backfill's sweep
finds every email, archived ones and those HubSpot leaves out of its listing with statistics
(#3331) included, each once; an edit comes through realtime within a poll and the delayed
stream skips it (the emitted-changes cache), until a restart empties the cache."""

from __future__ import annotations

import functools
from typing import Any

from change_streams import Dual, backfill
from fake_hubspot.marketing_control import edit_email
from harness import connected
from source_hubspot_native.api import dual
from source_hubspot_native.api.marketing_emails import (
    PATH,
    fetch_marketing_emails_page,
    list_marketing_emails,
)
from source_hubspot_native.models import MarketingEmail


async def test_the_backfill_sweeps_every_email_once_with_its_statistics_when_listed() -> None:
    async with connected() as c:
        marketing = c.fake.marketing
        cutoff = c.clock.now()
        late = marketing.emails[0]["id"]
        c.clock.advance(1)
        edit_email(c.fake, late)  # after the cutoff: the incremental streams' to read
        docs, pages = await backfill(functools.partial(fetch_marketing_emails_page, c.client), cutoff)
        assert pages == [1]
        got = {d.id: d for d in docs}
        assert len(got) == len(docs)
        store = {int(e["id"]): e for e in marketing.emails if e["id"] != late}
        assert sorted(got) == sorted(store)
        assert sum(1 for e in store.values() if e["archived"]) == 3 == sum(1 for d in docs if d.archived)
        hidden = {int(i) for i in marketing.hidden_with_stats}
        assert len(hidden) == 2 and hidden <= set(got)
        for email_id, doc in got.items():
            raw: dict[str, Any] = doc.model_dump(mode="json", exclude={"meta_"})
            assert raw["subject"] == store[email_id]["subject"]
            assert ("stats" in raw) == (email_id not in hidden), email_id
        passes = [(r.query["archived"], r.query["includeStats"]) for r in c.requests(PATH)]
        assert passes == [("false", "true"), ("false", "false"), ("true", "true"), ("true", "false")]
        assert {r.query["updatedBefore"] for r in c.requests(PATH)} == {
            cutoff.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        }


async def test_edits_come_through_realtime_once_and_the_delayed_stream_skips_them() -> None:
    async with connected() as c:
        streams = Dual(c, "marketing_emails", list_marketing_emails)
        t0 = c.clock.now()
        c.clock.advance(2)
        hidden = sorted(c.fake.marketing.hidden_with_stats)[0]
        archived = next(e["id"] for e in c.fake.marketing.emails if e["archived"])
        edited = [edit_email(c.fake, i)["id"] for i in (c.fake.marketing.emails[3]["id"], hidden, archived)]
        new = edit_email(c.fake)["id"]
        docs, cursor = await streams.realtime(t0)
        assert sorted(d.id for d in docs) == sorted(int(i) for i in [*edited, new])
        assert all(
            isinstance(d, MarketingEmail) and d.model_dump()["subject"].startswith("Edited") for d in docs
        )
        assert cursor == max(d.updatedAt for d in docs)
        # Nothing new: no documents and the cursor stays.
        assert await streams.realtime(cursor) == ([], cursor)
        end = c.clock.now()
        assert await streams.delayed_until(t0 - dual.MAX_WINDOW, end) == []
        streams.restart()
        again = await streams.delayed_until(t0, end + dual.MAX_WINDOW)
        assert sorted(d.id for d in again) == sorted(int(i) for i in [*edited, new])
