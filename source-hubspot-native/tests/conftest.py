"""A snapshot that no longer matches names the changed document and location (flowctl's hook);
the fake HubSpot served for tests that run the connector's own process."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from estuary_cdk.testing import LocalServer
from fake_hubspot import FakeHubSpot
from flow import serving
from flowctl.snapshot_diff import pytest_assertrepr_compare  # noqa: F401


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[FakeHubSpot, LocalServer]]:
    """The small data set's fake in a thread, and this virtualenv's python first on PATH: a
    catalog runs `python -m source_hubspot_native`."""
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    fake = FakeHubSpot(seed=7)
    with serving(fake) as running:
        yield fake, running
