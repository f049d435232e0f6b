"""Reading CRM objects (hubspot.md §2.3) against the fake, in-process: property chunks merged
(§6.4 #2), a row updated between chunks left to the incremental streams (#3), the calculated
properties' refresh (#13), ids deleted between listing and reading (#14), association pages
(#15)."""

from __future__ import annotations

import asyncio
from typing import Any

from fake_hubspot import FakeHubSpot, Sizes
from harness import LOG, TYPES, backfill, collect, connected
from source_hubspot_native.api import dual
from source_hubspot_native.api.crm_backfill import PageReader, fetch_crm_page
from source_hubspot_native.api.crm_read import read_objects
from source_hubspot_native.api.search import search_changes
from source_hubspot_native.models import CRMObject

WIDE = Sizes(contact_properties=400, contact_custom=120, long_custom_names=True)


def wide(clock: Any) -> FakeHubSpot:
    return FakeHubSpot(seed=7, sizes=WIDE, clock=clock)


def expected_properties(fake: FakeHubSpot, store_name: str, record_id: int) -> dict[str, str | None]:
    store = fake.crm.types[store_name]
    rec = store.records[record_id]
    return {
        p.name: store.value(rec, p.name) or None for p in store.props if store.value(rec, p.name) is not None
    }


async def test_400_properties_come_in_chunks_merged_per_row_without_a_414() -> None:
    async with connected(wide) as c:
        docs, pages = await backfill(c, "contacts", c.clock.now())
        listed = c.requests("/crm/v3/objects/contacts", "GET")
        assert sorted(d.id for d in docs) == c.fake.ids("contacts")
        for doc in docs:
            assert doc.properties == expected_properties(c.fake, "contacts", doc.id)
            assert len(doc.properties) > 300
        # Every page was read in more than one chunk (the listing probe aside), each URL short enough.
        chunks_per_page = (len(listed)) / (len(pages) + 1)
        assert chunks_per_page >= 2
        assert all(len(r.path_qs) <= c.fake.knobs.max_url_bytes for r in listed)
        assert c.fake.status_log.count(414) == 0
        # Associations came inline with the first chunk only.
        assert sum("associations" in r.query for r in listed) == len(pages) + 1
        assert any(d.companies for d in docs)


async def test_a_row_updated_between_chunks_is_left_to_the_incremental_streams() -> None:
    async with connected(wide) as c:
        cutoff = c.clock.now()
        victim = c.fake.ids("contacts")[3]
        # The update lands when the page's second chunk is asked for: its chunks disagree.
        c.fake.on_request(
            "/crm/v3/objects/contacts",
            lambda: c.fake.crm.mutate(
                "contacts", victim, {"firstname": "Changed"}, at_ms=dual.to_ms(cutoff) + 1
            ),
            skip=1,
        )
        docs, _ = await backfill(c, "contacts", cutoff)
        assert victim not in {d.id for d in docs}
        assert len(docs) == len(c.fake.ids("contacts")) - 1
        # Ten seconds later the realtime stream, whose cursor is the cutoff, reads the new version.
        c.clock.advance(10)
        crm = TYPES["contacts"]

        async def hydrate(log: Any, changes: list[dual.Listed]) -> Any:
            yield await read_objects(c.client, c.properties, crm, log, [int(x.key) for x in changes], False)

        out = await collect(
            dual.realtime_changes(
                "contacts_test",
                lambda log, since, until: search_changes(c.client, crm, log, since, until),
                hydrate,
                c.clock,
                LOG,
                cutoff,
            )
        )
        changed = [d for d in out if isinstance(d, CRMObject)]
        assert [(d.id, d.properties["firstname"]) for d in changed] == [(victim, "Changed")]


async def test_the_scheduled_refresh_reads_only_calculated_properties() -> None:
    async with connected() as c:
        calculated = [p.name for p in c.fake.crm.types["contacts"].props if p.calculated]
        target = c.fake.ids("contacts")[0]
        before = c.fake.crm.types["contacts"].records[target].updated_ms
        c.fake.crm.mutate("contacts", target, {calculated[0]: "424242"}, touch=False)
        assert c.fake.crm.types["contacts"].records[target].updated_ms == before  # no last-mod bump
        docs, _ = await backfill(c, "contacts", c.clock.now(), is_connector_initiated=True)
        assert all(set(d.properties) <= set(calculated) for d in docs)
        assert next(d for d in docs if d.id == target).properties[calculated[0]] == "424242"
        # No associations are asked for: a partial document must not clear them in the merge.
        assert all("associations" not in r.query for r in c.requests("/crm/v3/objects/contacts", "GET")[1:])
        assert all(d.companies == [] for d in docs)


async def test_the_scheduled_refresh_without_calculated_properties_reads_nothing() -> None:
    async with connected() as c:
        products = c.fake.crm.types["products"]
        products.props = [p for p in products.props if not p.calculated]  # an account without any
        sent = len(c.server.requests)
        docs, pages = await backfill(c, "products", c.clock.now(), is_connector_initiated=True)
        assert (docs, pages) == ([], [])
        assert [r.path for r in list(c.server.requests)[sent:]] == ["/crm/v3/properties/products"]


async def test_ids_deleted_between_listing_and_reading_are_skipped() -> None:
    async with connected() as c:
        ids = c.fake.ids("deals")[:10]
        c.fake.crm.delete("deals", ids[2])
        c.fake.crm.delete("deals", ids[7])
        docs = await read_objects(c.client, c.properties, TYPES["deals"], LOG, ids, False)
        assert [d.id for d in docs] == [i for i in ids if i not in (ids[2], ids[7])]
        assert c.fake.status_log.count(207, "/crm/v3/objects/deals/batch/read") == 1
        for doc in docs:
            assert doc.properties == expected_properties(c.fake, "deals", doc.id)
            assert doc.contacts == sorted(c.fake.crm.associations("deals", doc.id, "contacts"))


async def test_association_pages_are_all_followed() -> None:
    """Estuary reads the first page of a v4 association read only (90f766d88); this connector
    follows `paging.next.after` so an object with many associations keeps them all."""
    async with connected() as c:
        c.fake.knobs.assoc_page_size = 1
        deals = c.fake.ids("deals")[:100]  # one batch
        docs = await read_objects(c.client, c.properties, TYPES["deals"], LOG, deals, False)
        many = [d for d in docs if len(d.contacts) > 1]
        assert many, "the data set has deals with several contacts"
        for doc in docs:
            assert doc.contacts == sorted(c.fake.crm.associations("deals", doc.id, "contacts"))
        reads = c.requests("/crm/v4/associations/deals/contacts/batch/read", "POST")
        assert len(reads) == max(len(d.contacts) for d in docs)


async def test_the_next_pages_chunks_are_asked_for_before_this_page_is_emitted() -> None:
    """Every chunk of the next page reaches HubSpot while this page's documents are still being
    taken (not once the last one is), so HubSpot's latency overlaps the connector's work."""
    async with connected(wide) as c:
        reader = PageReader()
        gen = fetch_crm_page(
            c.client, c.properties, TYPES["contacts"], False, reader, LOG, None, c.clock.now()
        )
        items: list[Any] = []
        asked: list[str | None] = []
        async for item in gen:
            if isinstance(item, CRMObject):
                asked = [r.query.get("after") for r in c.requests("/crm/v3/objects/contacts", "GET")]
            items.append(item)
        following = items[-1]
        assert isinstance(following, str) and len(items) == 101
        chunks = asked.count(None)
        assert chunks >= 2, "the wide data set needs several property chunks"
        assert asked.count(following) == chunks
        reader.close()


async def test_the_next_page_is_read_while_this_one_is_worked_on() -> None:
    async with connected() as c:
        reader = PageReader()
        cutoff = c.clock.now()
        crm = TYPES["contacts"]
        first = await collect(fetch_crm_page(c.client, c.properties, crm, False, reader, LOG, None, cutoff))
        following = first[-1]
        assert isinstance(following, str)
        await asyncio.sleep(0.05)  # the read ahead runs while the engine emits the first page
        assert [r.query.get("after") for r in c.requests("/crm/v3/objects/contacts", "GET")][-1] == following
        sent = len(c.requests("/crm/v3/objects/contacts", "GET"))
        second = await collect(
            fetch_crm_page(c.client, c.properties, crm, False, reader, LOG, following, cutoff)
        )
        assert len(second) == 101 and second[0].id > first[-2].id
        await asyncio.sleep(0.05)
        # The second page came from the read ahead; only the third was asked for since.
        afters = [r.query.get("after") for r in c.requests("/crm/v3/objects/contacts", "GET")[sent:]]
        assert afters == [second[-1]]
        # A different page than the one read ahead (a restarted backfill) is read afresh.
        again = await collect(fetch_crm_page(c.client, c.properties, crm, False, reader, LOG, None, cutoff))
        assert [d.id for d in again[:-1]] == [d.id for d in first[:-1]]
        reader.close()
