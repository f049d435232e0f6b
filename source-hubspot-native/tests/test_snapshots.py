"""Spec, discover and a whole capture of the small data set (hubspot.md §6.5) through
`flowctl`, with snapshots, and the capture compared with what the fake account holds."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from estuary_cdk.testing import LocalServer
from fake_hubspot import FakeHubSpot
from flow import OAUTH, capture, catalog_for, flowctl, lines, serving

# Bindings of the fake account, and the store type each one reads.
CRM_BINDINGS = {
    "companies": "companies",
    "contacts": "contacts",
    "deals": "deals",
    "engagements": "engagements",
    "tickets": "tickets",
    "products": "products",
    "line_items": "line_items",
    "orders": "orders",
    "custom_cars": "p_cars",
}


@pytest.fixture
def fake() -> FakeHubSpot:
    return FakeHubSpot(seed=7)


@pytest.fixture
def server(fake: FakeHubSpot) -> Iterator[LocalServer]:
    with serving(fake) as running:
        yield running


def test_spec(snapshot: Any) -> None:
    assert snapshot("spec.stdout.json") == lines(flowctl("raw", "spec", "--source", "test.flow.yaml").stdout)


def test_discover(server: LocalServer, tmp_path: Path, snapshot: Any) -> None:
    catalog = catalog_for(server, tmp_path)
    bindings = lines(flowctl("raw", "discover", "--source", str(catalog), "-o", "json", "--emit-raw").stdout)
    # Goals and feedback submissions need scopes the test account did not grant; the archived
    # custom object (boats) is not offered.
    assert [b["recommendedName"] for b in bindings] == list(CRM_BINDINGS)
    assert snapshot("discover.stdout.json") == bindings


def test_discover_with_oauth(server: LocalServer, tmp_path: Path) -> None:
    """OAuth2 credentials: the connector exchanges the refresh token at the base URL's token
    endpoint and discovers the same bindings."""
    catalog = catalog_for(server, tmp_path, credentials=OAUTH)
    bindings = lines(flowctl("raw", "discover", "--source", str(catalog), "-o", "json", "--emit-raw").stdout)
    assert [b["recommendedName"] for b in bindings] == list(CRM_BINDINGS)
    assert server.requests.count("/oauth/v1/token", "POST") == 1


def expected_associations(fake: FakeHubSpot, store_name: str, record_id: int, target: str) -> list[int]:
    return sorted(fake.crm.associations(store_name, record_id, target))


def test_capture(fake: FakeHubSpot, server: LocalServer, tmp_path: Path, snapshot: Any) -> None:
    docs = capture(catalog_for(server, tmp_path))
    for binding, store_name in CRM_BINDINGS.items():
        got = docs[f"acmeCo/{binding}"]
        store = fake.crm.types[store_name]
        # Every record once (they all predate the capture: the backfill reads them).
        assert sorted(d["id"] for d in got) == sorted(store.records), binding
        for doc in got:
            rec = store.records[doc["id"]]
            for prop in store.props:
                value = store.value(rec, prop.name)
                assert doc["properties"].get(prop.name) == (value or None), (binding, doc["id"], prop.name)
            for target in (k for k, v in doc.items() if isinstance(v, list)):
                assert sorted(doc[target]) == expected_associations(fake, store_name, doc["id"], target)
    # Cleared values ("") are null, and some associations are filled.
    assert any(None in d["properties"].values() for d in docs["acmeCo/contacts"])
    assert any(d["contacts"] for d in docs["acmeCo/deals"])
    firsts = {
        name: min(rows, key=lambda d: d["id"])
        for name, rows in sorted(docs.items())
        if name != "connectorState"
    }
    assert snapshot("capture.first_documents.json") == firsts


def test_wrong_token_is_one_clear_error(server: LocalServer, tmp_path: Path) -> None:
    catalog = catalog_for(
        server, tmp_path, credentials={"credentials_title": "Private App Credentials", "access_token": "nope"}
    )
    proc = flowctl("preview", "--source", str(catalog), "--sessions", "1", ok=False)
    assert proc.returncode != 0
    assert "401" in proc.stderr and "INVALID_AUTHENTICATION" in proc.stderr
