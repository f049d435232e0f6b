"""Snapshot mismatches point at the changed document and location (issue 12, item 10): the
pytest hook connector tests import from flowctl.snapshot_diff."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from flowctl.snapshot_diff import changes, explain


def test_changes_are_json_pointers_with_both_values() -> None:
    assert changes({"a": {"b": [1, 2]}, "c": 1}, {"a": {"b": [1, 3]}, "c": True}) == [
        "/a/b/1: 2 != 3",
        "/c: 1 != true",  # 1 and true are different JSON values
    ]
    assert changes({"x/y": 1}, {}) == ["/x~1y: 1 != (missing)"]


def test_a_changed_document_is_named_by_index_collection_and_key() -> None:
    recorded = [["acmeCo/items", {"id": i, "title": f"item {i}"}] for i in range(1, 26)]
    now = [list(line) for line in recorded]
    now[3] = ["acmeCo/items", {"id": 4, "title": "Item 4"}]
    now.append(["acmeCo/items", {"id": 26, "title": "item 26"}])
    lines = explain(recorded, now)
    assert lines is not None
    assert lines[0].startswith("2 of 26 items differ")
    assert lines[1] == '  [3] acmeCo/items id=4: /1/title: "item 4" != "Item 4"'
    assert lines[2].startswith('  [25] only on the right: ["acmeCo/items",{"id":26')
    assert explain(recorded, recorded) is None and explain(1, 2) is None


def test_pytest_shows_the_explanation_without_verbose_flags(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text(
        "from flowctl.snapshot_diff import pytest_assertrepr_compare  # noqa: F401\n"
    )
    (tmp_path / "test_x.py").write_text(
        "def test_it():\n"
        "    recorded = [['acmeCo/greetings', {'id': i, 'message': 'hello'}] for i in range(40)]\n"
        "    now = [['acmeCo/greetings', {'id': i, 'message': 'hello' if i != 17 else 'hi'}] for i in range(40)]\n"
        "    assert recorded == now\n"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1
    assert '[17] acmeCo/greetings id=17: /1/message: "hello" != "hi"' in proc.stdout
