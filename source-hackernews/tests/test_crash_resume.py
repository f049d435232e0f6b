"""Killed at any point and resumed from what it committed, the capture ends with exactly the
items and story ranks of an uninterrupted run (estuary-cdk's crash/resume harness, against the
fake API in a thread; bench/crash_resume.py runs it with many more kills)."""

from pathlib import Path

from estuary_cdk.testing import KillPoint, LocalServer
from estuary_cdk.testing.crash_resume import ConnectorTarget, PreviewTarget, run_plan
from flow_session import _catalog
from source_hackernews.fake_api import FakeHackerNews

BINDINGS = ["items", "askstories", "jobstories"]
# Polls an hour apart: after the backfill the capture is caught up (the fake does not advance).
INTERVALS = {name: "PT1H" for name in BINDINGS}


def _catalog_for(server: LocalServer, tmp_path: Path) -> Path:
    config = {"base_url": server.url, "concurrency": 16}
    return _catalog(tmp_path, config, BINDINGS, INTERVALS)


def test_killed_connector_resumes_the_backfill_without_losing_an_item(
    threaded_server: LocalServer, fake: FakeHackerNews, tmp_path: Path
) -> None:
    target = ConnectorTarget.from_catalog(_catalog_for(threaded_server, tmp_path), idle=1.5)
    kills = [KillPoint("document", 700), KillPoint("checkpoint", 1), KillPoint("time", 0.3)]
    report = run_plan(target, kills, compare="documents")
    report.check()
    assert report.kills == 3
    items = sum(1 for n in range(1, 2501) if fake.exists(n))
    ranks = len(fake.story_list("askstories")) + len(fake.story_list("jobstories"))
    assert report.union_keys == items + ranks


def test_killed_preview_resumes_from_its_state_file(threaded_server: LocalServer, tmp_path: Path) -> None:
    target = PreviewTarget(_catalog_for(threaded_server, tmp_path), idle=1.5)
    report = run_plan(target, [KillPoint("checkpoint", 1), KillPoint("document", 300)], compare="documents")
    report.check()
    assert report.kills == 2 and report.problems == []
