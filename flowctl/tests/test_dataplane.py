"""The local pipeline's data plane: journals, task records and pruning."""

from __future__ import annotations

from pathlib import Path

import yaml
from flowctl.catalog import load_catalog
from flowctl.dataplane import DataPlane, source_key
from flowctl.pipeline import prune


def test_journal_offsets_are_never_reused(tmp_path: Path) -> None:
    plane = DataPlane(tmp_path / "p.sqlite")
    plane.commit_capture("acmeCo/c", [("a/x", [{"id": 1}, {"id": 2}]), ("a/y", [])], {"cursor": 2})
    plane.commit_capture("acmeCo/c", [("a/x", [{"id": 3}])], {"cursor": 3})
    assert [o for o, _ in plane.read("a/x", 0, 10)] == [1, 2, 3]
    assert [o for o, _ in plane.read("a/x", 1, 1)] == [2]
    assert plane.state("acmeCo/c") == {"cursor": 3} and plane.head("a/y") == 0
    assert plane.prune("a/x", 3) == 3 and plane.first_offset("a/x") is None
    plane.commit_capture("acmeCo/c", [("a/x", [{"id": 4}])], {"cursor": 4})
    assert [o for o, _ in plane.read("a/x", 0, 10)] == [4]
    plane.close()
    again = DataPlane(tmp_path / "p.sqlite")  # durable
    assert again.state("acmeCo/c") == {"cursor": 4} and again.head("a/x") == 4


def _catalog(tmp_path: Path) -> Path:
    binding = {"resource": {"table": "t"}, "source": "a/x"}
    endpoint = {"local": {"command": ["true"], "config": {}}}
    doc = {
        "collections": {"a/x": {"schema": {"type": "object"}, "key": ["/id"]}},
        "materializations": {
            "a/one": {"endpoint": endpoint, "bindings": [binding]},
            "a/two": {"endpoint": endpoint, "bindings": [binding]},
        },
    }
    path = tmp_path / "flow.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_prune_keeps_what_any_reader_still_needs(tmp_path: Path) -> None:
    catalog = load_catalog(_catalog(tmp_path))
    plane = DataPlane(tmp_path / "p.sqlite")
    plane.commit_capture("c", [("a/x", [{"id": i} for i in range(10)])], {})
    for name, through in (("a/one", 7), ("a/two", 4)):
        suffix = f"materialize/{name}/t"
        plane.put_spec(
            name, {"bindings": [{"collection": {"name": "a/x"}, "journalReadSuffix": suffix}]}, "v"
        )
        if name == "a/one":
            plane.commit_materialization(
                name, {"sources": {source_key("a/x", suffix): {"readThrough": str(through)}}}, {}
            )
    plane.commit_capture("c", [("a/unread", [{"id": 1}])], {})
    prune(plane, catalog, {"a/x", "a/unread"})
    assert plane.first_offset("a/x") == 1  # a/two has no checkpoint yet: nothing goes
    assert plane.first_offset("a/unread") is None  # nobody reads it: nothing to keep
    suffix = "materialize/a/two/t"
    plane.commit_materialization("a/two", {"sources": {source_key("a/x", suffix): {"readThrough": "4"}}}, {})
    prune(plane, catalog, {"a/x"})
    assert plane.first_offset("a/x") == 5  # the slower reader decides


def test_one_run_per_data_plane(tmp_path: Path) -> None:
    import os

    import pytest
    from flowctl.errors import DataPlaneError

    first = DataPlane(tmp_path / "p.sqlite")
    with pytest.raises(DataPlaneError, match=rf"is in use by flowctl run \(pid {os.getpid()}\)"):
        DataPlane(tmp_path / "p.sqlite")
    first.close()
    DataPlane(tmp_path / "p.sqlite").close()  # free again
