"""Runtime dependencies that connectors written for the reference kit use without declaring them,
because the reference brings them in (issue 11): a connector that swaps in this kit keeps only
what its own pyproject.toml declares plus what the kit declares, so the kit must declare them."""

from __future__ import annotations

import importlib
import re
from importlib import metadata

import pytest
from packaging.requirements import Requirement

# What each connector imports, by the distribution the reference kit brings it in with.
USED_UNDECLARED = {
    "python-dateutil": ("dateutil.parser", "source-facebook-marketing-native (via the reference's pendulum)"),
    "requests": ("requests", "source-sentry (via the reference's google-auth[requests])"),
    "aiodns": ("aiodns", "the reference declares it: aiohttp then resolves names with it"),
    "typing-extensions": ("typing_extensions", "source-ringcentral"),
}


def _declared() -> dict[str, Requirement]:
    requirements = [Requirement(r) for r in metadata.requires("estuary-cdk") or []]
    return {re.sub(r"[-_.]+", "-", r.name.lower()): r for r in requirements if r.marker is None}


@pytest.mark.parametrize("distribution", sorted(USED_UNDECLARED))
def test_the_kit_declares_what_reference_connectors_import_undeclared(distribution: str) -> None:
    declared = _declared()
    if distribution == "requests":
        assert "requests" in declared["google-auth"].extras, USED_UNDECLARED[distribution][1]
    else:
        assert distribution in declared, USED_UNDECLARED[distribution][1]
    importlib.import_module(USED_UNDECLARED[distribution][0])


def test_aiohttp_resolves_with_aiodns_as_under_the_reference() -> None:
    from aiohttp.resolver import AsyncResolver, DefaultResolver

    assert DefaultResolver is AsyncResolver
