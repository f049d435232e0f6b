"""The connector process SIGKILLed and resumed from what it committed (estuary-cdk's
crash/resume harness, flowctl building the Open request, the fake in a thread): killed
mid-backfill, the capture ends with exactly the documents of an uninterrupted run; killed
mid-incremental while changes arrive, every record is there in its latest version and a version
comes twice only inside the at-least-once window (hubspot.md §2.4)."""

from __future__ import annotations

import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from estuary_cdk.testing import KillPoint, LocalServer
from estuary_cdk.testing.crash_resume import ConnectorTarget, run_plan
from fake_hubspot import FakeHubSpot
from flow import catalog_for
from source_hubspot_native.api import dual

BINDINGS = ["contacts", "deals", "engagements", "owners"]
INCREMENTAL = ("deals", "products")  # realtime from the legacy recent API, and from the search
NAME = "hs_string_field_0"  # a property of every fake deal and product


def test_a_killed_connector_resumes_its_backfills_without_losing_a_record(
    served: tuple[FakeHubSpot, LocalServer], tmp_path: Path
) -> None:
    fake, running = served
    catalog = catalog_for(running, tmp_path, bindings=BINDINGS, interval="PT1H")
    target = ConnectorTarget.from_catalog(catalog, idle=2.0)
    kills = [KillPoint("document", 250), KillPoint("checkpoint", 2), KillPoint("document", 400)]
    report = run_plan(target, kills, compare="documents")
    report.check()
    assert report.kills == 3 and report.problems == []
    records = sum(len(fake.ids(b)) for b in BINDINGS[:3])
    assert report.union_keys == records + len(fake.marketing.owners)


class Changes:
    """Changes arriving in the fake account from a thread, every `every` seconds: an update of
    a deal or a product, a new deal, and one in four an update stamped 1 s in the past (indexed
    after newer ones, #1861: realtime may have passed it; the delayed stream must not). Late
    updates go to records of their own, each once, so no record's time goes back."""

    def __init__(self, fake: FakeHubSpot, every: float = 0.1) -> None:
        self.fake, self.every = fake, every
        self.stop = threading.Event()
        self.made = 0
        self._updated = {b: fake.ids(b)[:10] for b in INCREMENTAL}
        self._late = {b: iter(fake.ids(b)[10:]) for b in INCREMENTAL}
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Changes:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self._thread.join()

    def _run(self) -> None:
        crm = self.fake.crm
        n = 0
        while not self.stop.wait(self.every):
            n += 1
            binding = INCREMENTAL[n % 2]
            value = {NAME: f"change {n}"}
            late = next(self._late[binding], None) if n % 4 == 0 else None
            if late is not None:
                crm.mutate(binding, late, value, at_ms=crm.clock.now_ms() - 1_000)
            elif n % 4 == 1:
                crm.create("deals", value)
            else:
                crm.mutate(binding, self._updated[binding][n % 10], value)
            self.made = n


def cursors(states: list[dict[str, Any]], stream: str) -> dict[str, datetime]:
    """Each binding's `stream` cursor in the first of `states` that holds it."""
    out: dict[str, datetime] = {}
    for state in states:
        for binding, held in state.get("bindingStateV1", {}).items():
            if binding in INCREMENTAL and binding not in out:
                out[binding] = datetime.fromisoformat(held["inc"][stream]["cursor"])
    assert set(out) == set(INCREMENTAL)
    return out


def test_a_connector_killed_mid_incremental_resumes_both_streams_without_losing_a_change(
    served: tuple[FakeHubSpot, LocalServer], tmp_path: Path
) -> None:
    """Killed while realtime and delayed read a stream of changes, and changes go on while it is
    down: resumed from its last checkpoint, every record is there in its latest version, and a
    version comes twice only inside the at-least-once window (after the delayed cursor the run
    started from: the emitted-changes cache is in memory and the delayed stream reads that
    window again)."""
    fake, running = served
    fake.crm.search_lag_ms = 500
    assert all(NAME in fake.crm.types[b].by_name for b in INCREMENTAL)
    catalog = catalog_for(
        running, tmp_path, bindings=list(INCREMENTAL), interval="PT1S", advanced={"delayed_lag": "PT2S"}
    )
    target = ConnectorTarget.from_catalog(catalog, idle=1.0, max_seconds=60)
    backfilled = target.run(0, {}, None)  # the backfills, done before any change
    assert all(backfilled.end_state["bindingStateV1"][b].get("backfill") is None for b in INCREMENTAL)
    target.idle = 5.0  # more than the delayed stream's lag and a poll
    with Changes(fake) as changes:
        first = target.run(1, backfilled.end_state, KillPoint("document", 20))  # mid-incremental
        made_before_kill = changes.made
        time.sleep(1.0)  # changes while it is down
        resume = threading.Timer(2.0, changes.stop.set)  # and for a while after it is back
        resume.start()
        second = target.run(2, first.end_state, None)
        resume.join()
    assert first.killed and second.ended == "caught up"
    assert changes.made > made_before_kill + 10
    committed = [(run, t) for run in (backfilled, first, second) for t in run.committed]
    assert sum(len(t.documents) for t in first.committed) > 0  # changes were committed before the kill
    versions: dict[tuple[str, int, datetime], list[int]] = {}
    latest: dict[tuple[str, int], dict[str, Any]] = {}
    for run, txn in committed:
        for collection, doc in txn.documents:
            binding, ts = collection.rsplit("/", 1)[-1], datetime.fromisoformat(doc["updatedAt"])
            versions.setdefault((binding, int(doc["id"]), ts), []).append(run.number)
            seen = latest.get((binding, int(doc["id"])))
            if seen is None or datetime.fromisoformat(seen["updatedAt"]) <= ts:
                latest[(binding, int(doc["id"]))] = doc
    # Every record, in the version the account holds now (the late ones too).
    for binding in INCREMENTAL:
        store = fake.crm.types[binding]
        got = {
            rid: (dual.from_ms(rec.updated_ms), store.value(rec, NAME) or None)
            for rid, rec in store.records.items()
        }
        assert {
            rid: (datetime.fromisoformat(doc["updatedAt"]), doc["properties"][NAME])
            for (b, rid), doc in latest.items()
            if b == binding
        } == got, binding
    # Duplicates only inside the at-least-once window of the run that repeated them.
    windows = {
        0: cursors([t.state for t in backfilled.committed], dual.DELAYED),
        1: cursors([backfilled.end_state], dual.DELAYED),
        2: cursors([first.end_state], dual.DELAYED),
    }
    repeated = {k: runs for k, runs in versions.items() if len(runs) > 1}
    for (binding, rid, ts), runs in repeated.items():
        for number in runs[1:]:
            assert ts > windows[number][binding], (binding, rid, ts, runs)
    # The restart's window was read again: versions committed before the kill came once more.
    assert any(runs[0] == 1 and 2 in runs for runs in repeated.values())
