"""The kit's public surface, pinned (as httpx's tests/test_exported_members.py does): every public
module's `__all__`, the compatibility-only names of `estuary_cdk._compat`, and every name the
reference's 64 connectors import (estuary/connectors at a9bf953, collected with `ast` from their
sources). The pinned lists are data, in public_surface.json next to this file. A change there is a
change of what connectors can import: make it on purpose."""

import importlib
import json
import pkgutil
from pathlib import Path

import estuary_cdk
import pytest
from estuary_cdk._compat import COMPAT_NAMES

_PINNED = json.loads((Path(__file__).parent / "public_surface.json").read_text())
SURFACE: dict[str, list[str]] = _PINNED["surface"]
"""Every public module (no underscore in its dotted path) and its sorted `__all__`."""
REFERENCE_CONNECTOR_IMPORTS: dict[str, list[str]] = _PINNED["reference_connector_imports"]
"""What the reference connectors import, by module (the Airbyte shim's connectors import
`shim_airbyte_cdk.CaptureShim`; `pydantic_polyfill` and `requests_session_send_patch` they import
whole, for their effect)."""


def _public_modules() -> list[str]:
    return [
        info.name
        for info in pkgutil.walk_packages(estuary_cdk.__path__, "estuary_cdk.")
        if not any(part.startswith("_") for part in info.name.split(".")[1:])
    ]


def test_every_public_module_has_the_pinned_all() -> None:
    found = {}
    for name in _public_modules():
        module = importlib.import_module(name)
        assert hasattr(module, "__all__"), f"{name} has no __all__: its public names are not explicit"
        found[name] = sorted(module.__all__)
    assert found == SURFACE


@pytest.mark.parametrize("module", sorted(SURFACE))
def test_every_exported_name_exists_and_none_is_private(module: str) -> None:
    loaded = importlib.import_module(module)
    for name in loaded.__all__:
        assert not name.startswith("_"), f"{module}.__all__ lists the private name {name}"
        assert hasattr(loaded, name), f"{module}.__all__ lists {name}, which it does not define"


@pytest.mark.parametrize("module", sorted(COMPAT_NAMES))
def test_compatibility_names_still_import(module: str) -> None:
    loaded = importlib.import_module(module)
    for name in COMPAT_NAMES[module]:
        assert hasattr(loaded, name), f"{module}.{name} (a compatibility name) is gone"


@pytest.mark.parametrize("module", sorted(REFERENCE_CONNECTOR_IMPORTS))
def test_what_the_reference_connectors_import_still_imports(module: str) -> None:
    loaded = importlib.import_module(module)
    missing = [name for name in REFERENCE_CONNECTOR_IMPORTS[module] if not hasattr(loaded, name)]
    assert missing == []


def test_compatibility_aliases_are_the_kits_own_objects() -> None:
    from estuary_cdk import flow, http
    from estuary_cdk.capture import base_capture_connector, common

    assert common.Logger is __import__("logging").Logger
    assert common.CaptureBinding is flow.CaptureBinding and common.AccessToken is flow.AccessToken
    assert base_capture_connector.ConfigEncryptionError is http.ConfigEncryptionError


def test_removed_names_stay_removed() -> None:
    """Dead code neither this repository nor a reference connector used (see `_compat`)."""
    from estuary_cdk.capture import base_capture_connector, common

    for gone in ("TerminateTaskGroup", "force_terminate_task_group", "DEFAULT_ENCRYPTION_URL"):
        assert not hasattr(base_capture_connector, gone)
    for gone in ("SourcedSchema", "_binding_backfill_task", "_get_min_incremental_cursor"):
        assert not hasattr(common, gone)
