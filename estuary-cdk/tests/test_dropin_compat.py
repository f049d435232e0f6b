"""Patterns found by running reference-kit connectors unmodified on this kit (the drop-in check):
each test pins one behaviour such a connector relies on, with a small model written here."""

from datetime import timedelta

import pytest
from estuary_cdk.capture import response
from estuary_cdk.capture.common import (
    BaseDocument,
    Resource,
    ResourceConfig,
    ResourceState,
    SnapshotResource,
    discovered,
)


class _Row(BaseDocument, extra="allow"):
    id: str


def _resource(name: str, **kwargs: object) -> Resource[_Row, ResourceConfig, ResourceState]:
    return Resource(
        name=name,
        key=["/id"],
        model=_Row,
        open=lambda *a: None,
        initial_state=ResourceState(),
        initial_config=ResourceConfig(name=name, interval=timedelta(minutes=5)),
        schema_inference=True,
        **kwargs,  # type: ignore[arg-type]
    )


def test_discovered_bindings_carry_is_fallback_key_between_key_and_disable() -> None:
    """A connector that marks a key as a fallback (no natural identifier) gets it on the wire; the
    others say false explicitly, in the reference's field order."""
    out = discovered([_resource("natural"), _resource("synthetic", is_fallback_key=True)])
    line = out.model_dump_json(by_alias=True, exclude_unset=True)
    bindings = response.Discovered[ResourceConfig].model_validate_json(line).bindings
    assert [b.isFallbackKey for b in bindings] == [False, True]
    first = line.index('"recommendedName":"natural"')
    second = line.index('"recommendedName":"synthetic"')
    assert line.find('"key":["/id"],"isFallbackKey":false,"disable":false}', first, second) > 0
    assert line.find('"key":["/id"],"isFallbackKey":true,"disable":false}', second) > 0


def test_is_fallback_key_defaults_to_false_and_is_keyword_only_compatible() -> None:
    """Reference connectors pass `is_fallback_key=` by keyword; leaving it out means false."""
    assert _resource("plain").is_fallback_key is False
    assert _resource("fallback", is_fallback_key=True).is_fallback_key is True


def test_snapshot_resource_rejects_a_fallback_key() -> None:
    """Snapshot deletions are addressed by /_meta/row_id, so a user-changeable key would break them."""
    with pytest.raises(ValueError, match="fallback key"):
        SnapshotResource(
            name="snap",
            open=lambda *a: None,
            initial_config=ResourceConfig(name="snap"),
            is_fallback_key=True,
        )
