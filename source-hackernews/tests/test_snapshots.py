"""Spec, discover and capture snapshots through `flowctl`, as every connector's tests do.

Spec and discover run on the committed `test.flow.yaml`. The capture runs on a copy of it in a
temporary directory whose endpoint config points at the fake API (served from a thread so the
connector process can reach it); everything else about the catalog is the committed one.
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from estuary_cdk.testing import serve_app_in_thread
from source_hackernews.fake_api import STORY_LISTS, FakeHackerNews, make_app

CONNECTOR_DIR = Path(__file__).resolve().parent.parent
REDACTED = "redacted"
SEED, ITEMS = 11, 60


def _flowctl(*args: str, cwd: Path = CONNECTOR_DIR) -> str:
    result = subprocess.run(["flowctl", *args], cwd=cwd, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_spec(snapshot: Any) -> None:
    out = _flowctl("raw", "spec", "--source", str(CONNECTOR_DIR / "test.flow.yaml"))
    assert snapshot("stdout.json") == [json.loads(line) for line in out.splitlines()]


def test_discover(snapshot: Any) -> None:
    out = _flowctl(
        "raw", "discover", "--source", str(CONNECTOR_DIR / "test.flow.yaml"), "-o", "json", "--emit-raw"
    )
    assert snapshot("stdout.json") == [json.loads(line) for line in out.splitlines()]


@pytest.fixture
def catalog(tmp_path: Path) -> Any:
    """A copy of test.flow.yaml (and acmeCo/) whose config points at a fresh fake API."""
    data = FakeHackerNews(seed=SEED, items=ITEMS)
    with serve_app_in_thread(lambda: make_app(data)) as server:
        flow = yaml.safe_load((CONNECTOR_DIR / "test.flow.yaml").read_text())
        endpoint = flow["captures"]["acmeCo/source-hackernews"]["endpoint"]["local"]
        endpoint["command"] = [sys.executable, "-m", "source_hackernews"]
        endpoint["config"] = {
            **yaml.safe_load((CONNECTOR_DIR / "config.yaml").read_text()),
            "base_url": server.url,
        }
        shutil.copytree(CONNECTOR_DIR / "acmeCo", tmp_path / "acmeCo")
        (tmp_path / "test.flow.yaml").write_text(yaml.safe_dump(flow, sort_keys=False))
        yield tmp_path / "test.flow.yaml"


def _redact(collection: str, doc: dict[str, Any]) -> dict[str, Any]:
    if collection == "acmeCo/updates":
        doc["fetched_at"] = REDACTED
    return doc


def test_capture(catalog: Path, snapshot: Any) -> None:
    out = _flowctl(
        "preview", "--source", str(catalog), "--sessions", "1", "--delay", "6s", cwd=catalog.parent
    )
    lines = [json.loads(line) for line in out.splitlines()]
    docs = sorted(
        ([collection, _redact(collection, doc)] for collection, doc in lines),
        key=lambda pair: json.dumps(pair, sort_keys=True),
    )
    fake = FakeHackerNews(seed=SEED, items=ITEMS)
    non_empty = {name for name in STORY_LISTS if fake.story_list(name)}
    assert {collection for collection, _ in docs} == {
        f"acmeCo/{n}" for n in {"items", "users", "updates"} | non_empty
    }
    items = [doc["id"] for collection, doc in docs if collection == "acmeCo/items"]
    assert sorted(items) == [n for n in range(1, ITEMS + 1) if fake.exists(n)]
    assert snapshot("stdout.json") == docs
