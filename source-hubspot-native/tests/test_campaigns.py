"""The campaigns binding against the fake (hubspot.md §2.1, §3.7): the backfill pages through
every campaign asking only for the properties the API can read (HubSpot answers 400 to its
other `hs_*` ones); then a look-back an hour behind the cursor, newest change first and only
down to the first older campaign, deduplicated by the emitted-changes cache."""

from __future__ import annotations

import functools
from typing import Any

from change_streams import LookBack, backfill
from fake_hubspot import FakeHubSpot, Sizes
from fake_hubspot.marketing_control import edit_campaign
from harness import connected
from source_hubspot_native.api import dual
from source_hubspot_native.api.campaigns import PATH, changed_campaigns, fetch_campaigns_page


def many(clock: Any) -> FakeHubSpot:
    return FakeHubSpot(seed=7, sizes=Sizes(campaigns=230), clock=clock)


async def test_the_backfill_reads_every_campaign_with_its_readable_properties() -> None:
    async with connected(many) as c:
        campaigns = c.fake.marketing.campaigns
        cutoff = c.clock.now()
        c.clock.advance(1)
        late = edit_campaign(c.fake, campaigns[7]["id"], {"hs_notes": "late"})["id"]
        docs, pages = await backfill(functools.partial(fetch_campaigns_page, c.client, c.properties), cutoff)
        assert len(pages) == 2  # 230 campaigns, 100 a page
        store = {row["id"]: row for row in campaigns if row["id"] != late}
        assert sorted(d.id for d in docs) == sorted(store)
        asked = c.requests(PATH)[0].query["properties"].split(",")
        assert "hs_name" in asked and "campaign_region" in asked
        assert "hs_object_source" not in asked and "hubspot_team_id" not in asked
        for doc in docs:
            assert doc.properties == {k: (v or None) for k, v in store[doc.id]["properties"].items()}
            assert doc.updatedAt == dual.parse_ts(store[doc.id]["updatedAt"])


async def test_an_edit_is_emitted_once_and_a_poll_stops_at_the_first_older_campaign() -> None:
    async with connected(many) as c:
        stream = LookBack(c, "campaigns", functools.partial(changed_campaigns, c.client, c.properties))
        t0 = c.clock.now()
        c.clock.advance(30)
        edited = edit_campaign(c.fake, c.fake.marketing.campaigns[3]["id"], {"hs_name": "Renamed"})
        sent = len(c.requests(PATH))
        docs, cursor = await stream.poll(t0)
        assert [(d.id, d.properties["hs_name"]) for d in docs] == [(edited["id"], "Renamed")]
        assert cursor == c.clock.now()
        assert len(c.requests(PATH)) - sent == 1  # newest first: the first page ends the poll
        c.clock.advance(60)
        assert (await stream.poll(cursor))[0] == []
        stream.restart()
        assert [d.id for d in (await stream.poll(cursor))[0]] == [edited["id"]]
