"""A snapshot that no longer matches names the changed document and location (flowctl's hook)."""

from flowctl.snapshot_diff import pytest_assertrepr_compare  # noqa: F401
