"""The contact_lists and contact_list_memberships bindings against the fake (hubspot.md §2.1,
§3.7): backfills of the lists of contacts (not those of companies) and of every member, one
list per page; then a look-back an hour behind the cursor on each poll, deduplicated by the
emitted-changes cache (a change listed again is not emitted again, until a restart empties
the cache)."""

from __future__ import annotations

import asyncio
import functools
from datetime import timedelta
from typing import Any

import pytest
from change_streams import LookBack, backfill
from fake_hubspot.marketing_control import join, touch_list
from harness import LOG, collect, connected
from source_hubspot_native.api import dual
from source_hubspot_native.api import lists as lists_api
from source_hubspot_native.api.lists import (
    changed_lists,
    changed_memberships,
    fetch_lists_page,
    fetch_memberships_page,
    members_path,
)


async def test_the_lists_backfill_is_the_lists_of_contacts_modified_before_the_cutoff() -> None:
    async with connected() as c:
        lists = c.fake.marketing.lists
        cutoff = c.clock.now()
        c.clock.advance(1)
        touch_list(c.fake, lists[2]["listId"])  # after the cutoff: the look-back's to read
        docs, pages = await backfill(functools.partial(fetch_lists_page, c.client), cutoff)
        assert pages == []  # eight lists: one page of the search
        contacts = [int(r["listId"]) for r in lists if r["objectTypeId"] == "0-1"]
        assert len(contacts) == 6 and len(lists) == 8
        assert [d.listId for d in docs] == [i for i in contacts if i != int(lists[2]["listId"])]
        assert {d.objectTypeId for d in docs} == {"0-1"}


async def test_the_memberships_backfill_reads_one_list_a_page() -> None:
    async with connected() as c:
        marketing = c.fake.marketing
        contacts = sorted(int(r["listId"]) for r in marketing.lists if r["objectTypeId"] == "0-1")
        docs, pages = await backfill(functools.partial(fetch_memberships_page, c.client), c.clock.now())
        assert pages == contacts
        stored = sorted(
            (int(k), int(m["recordId"])) for k, rows in marketing.memberships.items() for m in rows
        )
        assert len(stored) == 600
        assert sorted((d.listId, d.recordId) for d in docs) == stored
        times = {(int(k), int(m["recordId"])): m["membershipTimestamp"] for k, rows in marketing.memberships.items() for m in rows}  # fmt: skip
        assert all(dual.parse_ts(times[(d.listId, d.recordId)]) == d.membershipTimestamp for d in docs)
        # Every member of a list: 100 a list, 250 a page.
        assert len(c.requests(members_path(contacts[0]))) == 1
        # Resumed after the third list (a restarted backfill), it reads only the lists after it.
        rest = await collect(fetch_memberships_page(c.client, LOG, contacts[2], c.clock.now()))
        assert rest[-1] == contacts[3]
        assert {d.listId for d in rest[:-1]} == {contacts[3]} and len(rest) == 1 + len(
            marketing.memberships[str(contacts[3])]
        )


async def test_the_look_back_emits_a_change_once_and_again_after_a_restart() -> None:
    async with connected() as c:
        marketing = c.fake.marketing
        lists = LookBack(c, "contact_lists", functools.partial(changed_lists, c.client))
        members = LookBack(c, "contact_list_memberships", functools.partial(changed_memberships, c.client))
        t0 = c.clock.now()
        assert (await lists.poll(t0))[0] == []  # nothing changed in the last hour
        contact_list = marketing.lists[1]["listId"]
        company_list = next(r["listId"] for r in marketing.lists if r["objectTypeId"] == "0-2")
        c.clock.advance(10)
        contact = c.fake.ids("contacts")[-1]
        joined = join(c.fake, contact_list, contact)
        touch_list(c.fake, company_list)
        c.clock.advance(10)
        docs, cursor = await lists.poll(t0)
        assert [d.listId for d in docs] == [int(contact_list)] and cursor == c.clock.now()
        new_members, member_cursor = await members.poll(t0)
        assert [(d.listId, d.recordId) for d in new_members] == [(int(contact_list), contact)]
        assert new_members[0].membershipTimestamp == dual.parse_ts(joined["membershipTimestamp"])
        # Twenty minutes on, the look-back lists those changes again: nothing is emitted twice.
        c.clock.advance(20 * 60)
        docs, cursor = await lists.poll(cursor)
        assert docs == []
        again, member_cursor = await members.poll(member_cursor)
        assert again == []
        # A new process (an empty cache): the changes in the look-back come again.
        lists.restart()
        members.restart()
        assert [d.listId for d in (await lists.poll(cursor))[0]] == [int(contact_list)]
        assert [d.recordId for d in (await members.poll(member_cursor))[0]] == [contact]
        # Past the look-back they are not listed (not merely skipped by the cache).
        c.clock.advance(3600)
        lists.restart()
        docs, _ = await lists.poll(c.clock.now() - timedelta(seconds=1))
        assert docs == []


async def test_a_poll_always_ends_in_a_later_cursor_even_if_the_clock_stepped_back() -> None:
    """The engine refuses documents without a following checkpoint, and a cursor that does not
    move forwards."""
    async with connected() as c:
        lists = LookBack(c, "contact_lists", functools.partial(changed_lists, c.client))
        touch_list(c.fake, c.fake.marketing.lists[0]["listId"])
        ahead = c.clock.now() + timedelta(seconds=30)  # a cursor from a clock that ran fast
        docs, cursor = await lists.poll(ahead)
        assert [d.listId for d in docs] == [int(c.fake.marketing.lists[0]["listId"])]
        assert cursor == ahead + timedelta(milliseconds=1)


@pytest.mark.parametrize("parallel", [2, lists_api.PARALLEL_LISTS])
async def test_the_members_of_changed_lists_are_read_several_lists_at_once(
    parallel: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with connected() as c:
        monkeypatch.setattr(lists_api, "PARALLEL_LISTS", parallel)
        contact_lists = [r["listId"] for r in c.fake.marketing.lists if r["objectTypeId"] == "0-1"]
        t0 = c.clock.now()
        c.clock.advance(1)
        contact = c.fake.ids("contacts")[0]
        for list_id in contact_lists:
            join(c.fake, list_id, contact)
        in_flight, most = 0, 0
        get = c.client.get

        async def counted(log: Any, path: str, params: Any = None) -> Any:
            nonlocal in_flight, most
            if not path.endswith("/join-order"):
                return await get(log, path, params)
            in_flight += 1
            most = max(most, in_flight)
            try:
                await asyncio.sleep(0.01)  # real time: the other reads start meanwhile
                return await get(log, path, params)
            finally:
                in_flight -= 1

        monkeypatch.setattr(c.client, "get", counted)
        members = LookBack(c, "contact_list_memberships", functools.partial(changed_memberships, c.client))
        docs, _ = await members.poll(t0)
        assert sorted((d.listId, d.recordId) for d in docs) == sorted(
            (int(i), contact) for i in contact_lists
        )
        assert most == min(parallel, len(contact_lists))
