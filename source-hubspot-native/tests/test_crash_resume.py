"""Killed mid-backfill and resumed from what it committed, the capture ends with exactly the
documents of an uninterrupted run (estuary-cdk's crash/resume harness, the connector process
SIGKILLed, against the fake in a thread)."""

from __future__ import annotations

from pathlib import Path

from estuary_cdk.testing import KillPoint, LocalServer
from estuary_cdk.testing.crash_resume import ConnectorTarget, run_plan
from fake_hubspot import FakeHubSpot
from flow import catalog_for

BINDINGS = ["contacts", "deals", "engagements", "owners"]


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
