from __future__ import annotations

import asyncio
from typing import Any

from estuary_cdk.utils import (
    compare_capture_records,
    compare_values,
    format_error_message,
    get_running_tasks_info,
    json_merge_patch,
    sort_dict,
)


def test_json_merge_patch_rfc7396() -> None:
    target = {"a": {"b": 1, "c": 2}, "d": [1, 2], "e": "x"}
    json_merge_patch(target, {"a": {"b": None, "z": {"y": 1}}, "d": [3], "e": None, "f": {"g": None}})
    assert target == {"a": {"c": 2, "z": {"y": 1}}, "d": [3], "f": {}}
    scalar = {"a": 1}
    json_merge_patch(scalar, {"a": {"b": 2}})
    assert scalar == {"a": {"b": 2}}


def test_json_merge_patch_does_not_alias_the_patch() -> None:
    # The backfill engine patches its in-memory dict page cursor in place, patch after patch.
    target: dict[str, Any] = {}
    patch: dict[str, Any] = {"a": {"e": {"f": 1}}}
    json_merge_patch(target, patch)
    json_merge_patch(target, {"a": {"e": {"f": 2, "g": None}}})
    assert target == {"a": {"e": {"f": 2}}}
    assert patch == {"a": {"e": {"f": 1}}}


def test_sort_dict_recurses_into_lists() -> None:
    out = sort_dict({"b": 1, "a": [{"d": 1, "c": 2}]})
    assert list(out) == ["a", "b"] and list(out["a"][0]) == ["c", "d"]


def test_format_error_message() -> None:
    assert format_error_message(ValueError("bad")) == "bad"
    assert format_error_message(TimeoutError()) == "TimeoutError"


def test_compare_values() -> None:
    assert compare_values({"a": 1, "extra": 2}, {"a": 1}) == []
    assert compare_values({"a": 2}, {"a": 1}) == ["/a: expected 1, got 2"]
    assert compare_values({}, {"a": 1}) == ["/a: missing"]
    assert compare_values([1], [1, 2]) == ["/: expected 2 items, got 1"]
    assert compare_values({"a": [{"b": 1}]}, {"a": [{"b": 3}]}) == ["/a/0/b: expected 3, got 1"]
    assert compare_values(1, True) == ["/: expected True, got 1"]
    assert compare_capture_records([["c", {"id": 1, "x": 2}]], [["c", {"id": 1}]]) == []
    assert compare_capture_records([], [["c", {}]]) == ["expected 1 records, got 0"]


async def test_get_running_tasks_info_excludes_and_describes() -> None:
    async def sleeper() -> None:
        await asyncio.sleep(10)

    task = asyncio.create_task(sleeper(), name="sleepy")
    await asyncio.sleep(0)
    infos = get_running_tasks_info(exclude_tasks=[t for t in [asyncio.current_task()] if t])
    task.cancel()
    names = {i.task_name: i for i in infos}
    assert "sleepy" in names and names["sleepy"].coro_name.endswith("sleeper")
    assert "sleeper" in names["sleepy"].stack_trace
