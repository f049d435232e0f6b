"""The 16 scenarios of hubspot.md §6.4, each with the test that covers it and what it asserts
of the documents (not only that nothing crashed). Tests after `here:` are in this module; the
others were written with the code they prove.

 #  Scenario                                 Test                                          Asserts
 1  backfill of every binding, small set     test_snapshots::test_capture (flowctl)         every record once per CRM binding, each
                                                                                            property = the fake's ("" -> null),
                                                                                            association arrays = the fake's edges;
                                                                                            every email event; every snapshot row
 2  400 properties, long custom names        test_crm_reads::test_400_properties_come_in_   properties = the fake's per row, >= 2
                                             chunks_merged_per_row_without_a_414            chunks a page, every URL short, no 414
 3  update between property chunks           test_crm_reads::test_a_row_updated_between_    the row left out of the backfill, then
                                             chunks_is_left_to_the_incremental_streams      realtime emits its new value
 4  change after start, search lag 5 s       test_dual_stream::test_realtime_emits_within_  realtime emits create + update (values)
                                             a_poll_and_delayed_skips_it; test_crash_       once indexed, delayed skips them, after a
                                             resume::test_a_connector_killed_mid_           restart emits them again; killed through
                                             incremental_... (flowctl)                      flowctl mid-incremental: latest version of
                                                                                            every record, repeats only in the window
 5  recent API hides young rows              test_recent::test_rows_the_recent_api_hides_   realtime lists nothing, delayed emits
                                             are_recovered_by_the_delayed_stream            exactly the hidden id
 6  12,000 changes in one delayed window     test_search::test_12000_changes_in_one_        every id once, >= 2 ordered checkpoints,
                                             window_are_split_by_time_with_checkpoints      no search past 10,000, no 400
 7  10,500 rows in one millisecond           test_search::test_10500_rows_in_one_           every id once at that ms, drained by
                                             millisecond_are_drained_by_id; here:           hs_object_id; here through the delayed
                                             test_07_...                                    stream with rows 1 ms and 1 s after:
                                                                                            every one once, checkpoints forward
 8  search misordered by up to 1 h           test_search::test_results_misordered_by_up_   delayed: every id of 12,000 once;
                                             to_an_hour_lose_nothing; here: test_08_...     here realtime (search) + delayed over
                                                                                            11,000 products: every document once
 9  10,500 engagements in 1 h                test_recent::test_a_burst_past_the_recent_     realtime lists the newest 9,900, delayed
                                             apis_cap_is_completed_by_the_delayed_stream;   lists all; here the pair: realtime emits
                                             here: test_09_...                              9,900, delayed exactly the other 600
10  token expires during a long backfill     test_limits::test_tokens_expiring_during_a_    every id, >= 5 refresh grants, no 401
                                             long_backfill_are_refreshed_before_they_expire
11  429 storms, 5xx at 5%                    test_limits::test_a_429_storm_and_5_percent_   backfill: every id, the 429s and 5xx
                                             5xx_lose_nothing; here: test_11_...            answered; here a search storm under the
                                                                                            delayed stream: every document, 429s
                                                                                            counted by the limiter
12  missing scopes                           test_scopes (discover); here: test_12_...      bindings left out with a log line, other
    (and bad config)                         (flowctl); test_snapshots::test_wrong_token_   403 fails; here a wrong token, a revoked
                                             is_one_clear_error (flowctl)                   refresh token, a bound binding whose
                                                                                            scope is gone: one error line each
13  calculated property + cron fire          test_crm_reads::test_the_scheduled_refresh_*;  page reads only calculated properties;
                                             here: test_13_... (flowctl)                    here the schedule fires on resume, the
                                                                                            partial documents carry only calculated
                                                                                            properties and no associations, and
                                                                                            `flowctl raw combine` merges them into the
                                                                                            whole documents
14  ids deleted between listing and read     test_crm_reads::test_ids_deleted_between_      the others' documents, in order, values
                                             listing_and_reading_are_skipped                and associations; one 207
15  association paging (> 500 targets)     test_crm_reads::test_association_pages_are_    every target (pages of 1); here 1,200
                                             all_followed; here: test_15_...                contacts of a deal at HubSpot's 500 a page,
                                                                                            and the backfill's inline list agrees.
                                                                                            This connector follows every page (its
                                                                                            documented behaviour; Estuary's stops at
                                                                                            the first)
16  snapshot deletion (owner removed)        test_snapshots::test_an_owner_removed_is_      a tombstone for the last row number, the
                                             deleted_by_a_tombstone (flowctl)               other owners kept
"""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from estuary_cdk.testing import FakeClock, LocalServer
from fake_hubspot import DEFAULT_SCOPES, FakeHubSpot, Sizes
from flow import OAUTH, PRIVATE_APP, capture, catalog_for, flowctl, lines
from harness import LOG, TYPES, Connected, backfill, collect, connected, delayed_poll
from source_hubspot_native.api import dual
from source_hubspot_native.api.crm_read import read_in_batches, read_objects
from source_hubspot_native.api.recent import MAX_IDS, RECENT, recent_changes
from source_hubspot_native.api.search import search_changes
from source_hubspot_native.models import CRMObject

START = datetime(2030, 1, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)


def properties_of(fake: FakeHubSpot, store_name: str, record_id: int) -> dict[str, str | None]:
    """A record's properties as a document carries them (cleared values are null)."""
    store = fake.crm.types[store_name]
    rec = store.records[record_id]
    values = {p.name: store.value(rec, p.name) for p in store.props}
    return {name: value or None for name, value in values.items() if value is not None}


def streams(c: Connected, binding: str, realtime_from_recent: bool) -> tuple[Any, Any, Any]:
    """The listers and hydrator `crm_resource` gives `binding` (documents hydrated by batch
    reads with associations)."""
    crm = TYPES[binding]

    def delayed(log: Any, since: datetime, until: datetime | None) -> Any:
        return search_changes(c.client, crm, log, since, until)

    def realtime(log: Any, since: datetime, until: datetime | None) -> Any:
        if realtime_from_recent:
            return recent_changes(c.client, RECENT[binding], log, since, until)
        return delayed(log, since, until)

    async def hydrate(log: Any, changes: list[dual.Listed]) -> Any:
        async for docs in read_in_batches(
            c.client, c.properties, crm, log, [int(x.key) for x in changes], False
        ):
            yield docs

    return realtime, delayed, hydrate


async def delayed_until_settled(
    c: Connected, name: str, lister: Any, hydrate: Any, cursor: datetime
) -> list[Any]:
    """Every item the delayed stream emits from `cursor` until it reaches its horizon."""
    out: list[Any] = []
    while cursor < c.clock.now() - HOUR - dual.min_window(HOUR):
        items = await collect(dual.delayed_changes(name, lister, hydrate, c.clock, HOUR, LOG, cursor))
        out += [x for x in items if not isinstance(x, datetime)]
        cursor = max((x for x in items if isinstance(x, datetime)), default=cursor)
    return out


def modified_over(name: str, count: int, over: timedelta, **sizes: Any) -> Any:
    """A fake whose first `count` records of `name` were modified one after another over `over`
    from START."""

    def factory(clock: FakeClock) -> FakeHubSpot:
        fake = FakeHubSpot(seed=7, sizes=Sizes(**{name: count, **sizes}), clock=clock)
        step = over // count
        for n, rid in enumerate(fake.ids(name)[:count]):
            fake.crm.mutate(name, rid, {"hs_string_field_0": f"v{n}"}, at_ms=dual.to_ms(START + n * step))
        return fake

    return factory


# --- #7 ---------------------------------------------------------------------------------------


async def test_07_the_delayed_stream_goes_on_one_millisecond_past_a_crowded_one() -> None:
    """10,300 contacts stamped with one millisecond (more than a search answers), 100 the next
    millisecond and 100 a second later: the delayed stream emits every one once, and its
    checkpoints move forward to the window's end."""
    stamp = dual.to_ms(START) + 1234
    clock = FakeClock(start=START + timedelta(hours=3))

    def factory(c: FakeClock) -> FakeHubSpot:
        fake = FakeHubSpot(seed=7, sizes=Sizes(contacts=10_500), clock=c)
        ids = fake.ids("contacts")
        fake.crm.bulk_touch("contacts", ids[:10_300], at_ms=stamp)
        fake.crm.bulk_touch("contacts", ids[10_300:10_400], at_ms=stamp + 1)
        fake.crm.bulk_touch("contacts", ids[10_400:], at_ms=stamp + 1_000)
        return fake

    async with connected(factory, clock=clock) as c:
        emitted, checkpoints = await delayed_poll(c, "contacts", START)
        assert sorted(emitted) == c.fake.ids("contacts")  # every one, once
        assert checkpoints == sorted(set(checkpoints)) and checkpoints[-1] == START + HOUR
        searched = [json.loads(r.body) for r in c.requests("/crm/v3/objects/contacts/search", "POST")]
        drains = [b for b in searched if any(f["propertyName"] == "hs_object_id" for f in b["filters"])]
        assert drains  # the crowded millisecond was read by id
        assert c.fake.status_log.count(400) == 0


# --- #8 ---------------------------------------------------------------------------------------


async def test_08_misordered_search_loses_no_document_in_either_stream() -> None:
    """Products (realtime from the search too) over 11,000 changes in 50 minutes, a third of
    the results sorted up to an hour off: realtime emits every product's document once, the
    delayed stream an hour later finds each already emitted."""
    clock = FakeClock(start=START + timedelta(minutes=50, seconds=1))
    async with connected(modified_over("products", 11_000, timedelta(minutes=50)), clock=clock) as c:
        c.fake.knobs.misorder_rate = 0.3
        c.fake.knobs.misorder_max_ms = 3_600_000
        realtime, delayed, hydrate = streams(c, "products", realtime_from_recent=False)
        out = await collect(
            dual.realtime_changes(
                "products-08", realtime, hydrate, c.clock, LOG, START - timedelta(milliseconds=1)
            )
        )
        docs = [x for x in out if isinstance(x, CRMObject)]
        assert sorted(d.id for d in docs) == c.fake.ids("products")
        for doc in docs[::500]:
            assert doc.properties == properties_of(c.fake, "products", doc.id)
        newest = max(rec.updated_ms for rec in c.fake.crm.types["products"].records.values())
        assert out[-1] == dual.from_ms(newest)  # the cursor: the newest change
        assert c.fake.status_log.count(400) == 0
        c.clock.advance(HOUR.total_seconds() + 600)
        again = await delayed_until_settled(
            c, "products-08", delayed, hydrate, START - timedelta(milliseconds=1)
        )
        assert again == []


# --- #9 ---------------------------------------------------------------------------------------


async def test_09_realtime_stops_at_9900_and_the_delayed_stream_emits_exactly_the_rest() -> None:
    """10,500 engagements modified within an hour: realtime (the legacy recent API) emits the
    newest 9,900 and moves its cursor to the newest; the delayed stream (search) an hour later
    emits the 600 older ones only, the 9,900 being in the emitted-changes cache."""
    clock = FakeClock(start=START + timedelta(minutes=55))
    async with connected(
        modified_over("engagements", 10_500, timedelta(minutes=52, seconds=30)), clock=clock
    ) as c:
        realtime, delayed, _ = streams(c, "engagements", realtime_from_recent=True)

        async def ids(log: Any, changes: list[dual.Listed]) -> Any:
            yield [int(x.key) for x in changes]

        since = START - timedelta(milliseconds=1)
        out = await collect(dual.realtime_changes("engagements-09", realtime, ids, c.clock, LOG, since))
        first = [x for x in out if isinstance(x, int)]
        everything = c.fake.ids("engagements")
        assert len(first) == MAX_IDS and set(first) == set(everything[-MAX_IDS:])
        newest = max(c.fake.crm.types["engagements"].records[i].updated_ms for i in everything)
        assert out[-1] == dual.from_ms(newest)
        c.clock.advance(HOUR.total_seconds() + 600)
        rest = await delayed_until_settled(c, "engagements-09", delayed, ids, since)
        assert sorted(rest) == everything[:-MAX_IDS]


# --- #11 --------------------------------------------------------------------------------------


async def test_11_a_search_429_storm_and_5xx_under_the_delayed_stream_lose_no_document() -> None:
    clock = FakeClock(start=START + timedelta(hours=2))
    async with connected(modified_over("deals", 3_000, HOUR), clock=clock) as c:
        c.fake.random_faults.rate = 0.05
        storm = c.server.faults.rate_limit(retry_after=None, path="/crm/v3/objects/deals/search", times=15)
        _, delayed, hydrate = streams(c, "deals", realtime_from_recent=False)
        docs = await delayed_until_settled(c, "deals-11", delayed, hydrate, START - timedelta(milliseconds=1))
        assert sorted(d.id for d in docs) == c.fake.ids("deals")
        for doc in docs[::100]:
            assert doc.properties == properties_of(c.fake, "deals", doc.id)
            assert doc.contacts == sorted(c.fake.crm.associations("deals", doc.id, "contacts"))
        assert storm.fired == 15 and sum(c.fake.random_faults.injected.values()) > 0
        # The 429s are counted where the capture's status reads them (the 429 ratio).
        limiter = c.http.rate_limiter
        assert limiter.failed >= 15 and limiter.failed / limiter.total < 0.1


# --- #12 --------------------------------------------------------------------------------------


BAD_CONFIGS = {
    "wrong private-app token": (
        {"credentials_title": "Private App Credentials", "access_token": "nope"},
        DEFAULT_SCOPES,
        ["401", "INVALID_AUTHENTICATION", "check the credentials"],
    ),
    "revoked refresh token": ({**OAUTH, "refresh_token": "revoked"}, DEFAULT_SCOPES, ["BAD_REFRESH_TOKEN"]),
    "scope of a bound binding gone": (
        PRIVATE_APP,
        DEFAULT_SCOPES - {"crm.objects.contacts.read"},
        [
            "binding 'contacts' is not offered by this HubSpot account",
            "lack the scope",
            "disable the binding",
        ],
    ),
}


@pytest.mark.parametrize("case", list(BAD_CONFIGS))
def test_12_bad_config_is_one_clear_error(
    served: tuple[FakeHubSpot, LocalServer], tmp_path: Path, case: str
) -> None:
    """A wrong token, a revoked refresh token, a bound binding whose scope was revoked: the
    capture fails with one error line saying what is wrong."""
    credentials, scopes, said = BAD_CONFIGS[case]
    fake, running = served
    fake.set_scopes(scopes)
    catalog = catalog_for(running, tmp_path, credentials=credentials, bindings=["contacts", "owners"])
    proc = flowctl("preview", "--source", str(catalog), "--sessions", "1", ok=False)
    assert proc.returncode != 0
    stderr = proc.stderr.splitlines()
    errors = [n for n, line in enumerate(stderr) if " ERROR " in line]
    assert len(errors) == 1, proc.stderr[-3000:]
    # The error's text: its line and the response it quotes, up to flowctl's own last word.
    ends = [n for n, line in enumerate(stderr) if line.startswith("error: connector failed")]
    error = "\n".join(stderr[errors[0] : ends[0]])
    assert all(text in error for text in said), error
    if scopes != DEFAULT_SCOPES:  # the log line before it names the scope
        left_out = [line for line in proc.stderr.splitlines() if '"binding":"contacts"' in line]
        assert left_out and "crm.objects.contacts.read" in left_out[0]


# --- #13 --------------------------------------------------------------------------------------


def test_13_calculated_properties_refreshed_by_the_schedule_merge_into_the_documents(
    served: tuple[FakeHubSpot, LocalServer], tmp_path: Path
) -> None:
    """A calculated property changes without a last-modified bump, so neither stream sees it.
    Resumed after the refresh schedule's time passed, the connector backfills the calculated
    properties only; the collection's merge reduction (`flowctl raw combine`) folds those
    partial documents into the whole ones, associations kept."""
    fake, running = served
    catalog = catalog_for(running, tmp_path, bindings=["contacts"], interval="PT1H")
    first = capture(catalog, "--output-state")
    whole = first["acmeCo/contacts"]
    assert sorted(d["id"] for d in whole) == fake.ids("contacts")
    store = fake.crm.types["contacts"]
    calculated = sorted(p.name for p in store.props if p.calculated)
    changed = fake.ids("contacts")[4:7]
    for n, rid in enumerate(changed):
        before = store.records[rid].updated_ms
        fake.crm.mutate("contacts", rid, {calculated[n % len(calculated)]: f"42424{n}"}, touch=False)
        assert store.records[rid].updated_ms == before
    # The daily schedule (55 23 * * *) has fired since the binding was last initialized.
    state = first["connectorState"][-1]["updated"]
    binding_state = state["bindingStateV1"]["contacts"]
    assert binding_state.get("backfill") is None
    binding_state["last_initialized"] = (datetime.now(UTC) - timedelta(days=2)).isoformat()
    second = capture(catalog, "--initial-state", json.dumps(state), "--output-state")
    partial = second["acmeCo/contacts"]
    assert sorted(d["id"] for d in partial) == fake.ids("contacts")  # each once
    assert all(sorted(d["properties"]) == calculated for d in partial)
    assert not any("companies" in d for d in partial)  # a partial document must not clear them
    resumed = second["connectorState"][-1]["updated"]["bindingStateV1"]["contacts"]
    assert resumed["is_connector_initiated"] is True and resumed.get("backfill") is None
    # The collection's reduction merges the refresh into the documents.
    combined = subprocess.run(
        ["flowctl", "raw", "combine", "--source", str(catalog), "--collection", "acmeCo/contacts"],
        input="\n".join(json.dumps(d) for d in [*whole, *partial]),
        capture_output=True,
        text=True,
        cwd=catalog.parent,
        timeout=60,
    )
    assert combined.returncode == 0, combined.stderr[-2000:]
    merged = {d["id"]: d for d in lines(combined.stdout)}
    assert sorted(merged) == fake.ids("contacts")
    for rid, doc in merged.items():
        assert doc["properties"] == properties_of(fake, "contacts", rid)
        assert doc["companies"] == sorted(fake.crm.associations("contacts", rid, "companies"))
    assert [merged[rid]["properties"][calculated[n % len(calculated)]] for n, rid in enumerate(changed)] == [
        f"42424{n}" for n in range(len(changed))
    ]


# --- #15 --------------------------------------------------------------------------------------


async def test_15_a_deal_with_1200_contacts_keeps_them_all() -> None:
    """HubSpot pages a v4 association read after 500 targets: the batch read follows the pages
    (`after` per source), and the backfill's inline list is the same."""
    async with connected(lambda clock: FakeHubSpot(seed=7, sizes=Sizes(contacts=1_200), clock=clock)) as c:
        assert c.fake.knobs.assoc_page_size == 500
        crowded = c.fake.ids("deals")[3]
        for contact in c.fake.ids("contacts"):
            c.fake.crm.associate("deals", crowded, "contacts", contact)
        expected = sorted(c.fake.crm.associations("deals", crowded, "contacts"))
        assert len(expected) == 1_200
        ids = c.fake.ids("deals")[:100]
        read = await read_objects(c.client, c.properties, TYPES["deals"], LOG, ids, False)
        docs: dict[int, Any] = {d.id: d for d in read}
        assert docs[crowded].contacts == expected
        for rid in ids:
            assert docs[rid].contacts == sorted(c.fake.crm.associations("deals", rid, "contacts"))
        reads = [
            json.loads(r.body) for r in c.requests("/crm/v4/associations/deals/contacts/batch/read", "POST")
        ]
        assert [[i.get("after") for i in r["inputs"] if i["id"] == str(crowded)] for r in reads] == [
            [None],
            ["500"],
            ["1000"],
        ]
        listed, _ = await backfill(c, "deals", c.clock.now())
        inline: Any = next(d for d in listed if d.id == crowded)
        assert inline.contacts == expected
