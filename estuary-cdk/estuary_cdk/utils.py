"""Small helpers shared by the kit and connectors."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "TaskInfo",
    "compare_capture_records",
    "compare_values",
    "format_error_message",
    "get_running_tasks_info",
    "json_merge_patch",
    "sort_dict",
]


@dataclass
class TaskInfo:
    task: asyncio.Task[Any]
    task_name: str
    coro_name: str
    stack_trace: str


def get_running_tasks_info(exclude_tasks: Iterable[asyncio.Task[Any]] | None = None) -> list[TaskInfo]:
    """Describe every unfinished asyncio task (for "why is shutdown stuck" diagnostics)."""
    excluded = set(exclude_tasks or ())
    infos: list[TaskInfo] = []
    for task in asyncio.all_tasks():
        if task.done() or task in excluded:
            continue
        coro = task.get_coro()
        coro_name = getattr(coro, "__qualname__", None) or type(coro).__name__
        stack = io.StringIO()
        task.print_stack(limit=20, file=stack)
        infos.append(TaskInfo(task, task.get_name(), coro_name, stack.getvalue()))
    return infos


def format_error_message(err: BaseException) -> str:
    """`str(err)`, or the exception's type name when that is empty."""
    return str(err) or type(err).__name__


def sort_dict(obj: Any) -> Any:
    """Recursively sort mapping keys (lists keep their order)."""
    if isinstance(obj, dict):
        return {k: sort_dict(obj[k]) for k in sorted(obj)}
    if isinstance(obj, list):
        return [sort_dict(v) for v in obj]
    return obj


def json_merge_patch(target: dict[str, Any], patch: dict[str, Any]) -> None:
    """Apply an RFC 7396 merge patch to `target` in place: `None` deletes a key, objects merge
    recursively, anything else replaces."""
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict):
            current = target.get(key)
            if not isinstance(current, dict):
                current = {}
                target[key] = current
            json_merge_patch(current, value)
        else:
            target[key] = value


def compare_values(actual: Any, expected: Any, path: str = "") -> list[str]:
    """Differences where `actual` does not contain `expected`: every key of an expected object
    must exist in actual with an equal value (extra keys allowed); lists must match in length
    and element-wise."""
    where = path or "/"
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{where}: expected an object, got {type(actual).__name__}"]
        errors: list[str] = []
        for key, value in expected.items():
            child = f"{path}/{key}"
            if key not in actual:
                errors.append(f"{child}: missing")
            else:
                errors.extend(compare_values(actual[key], value, child))
        return errors
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return [f"{where}: expected a list, got {type(actual).__name__}"]
        if len(actual) != len(expected):
            return [f"{where}: expected {len(expected)} items, got {len(actual)}"]
        errors = []
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            errors.extend(compare_values(a, e, f"{path}/{i}"))
        return errors
    if actual != expected or (type(actual) is not type(expected) and isinstance(expected, bool | None)):
        return [f"{where}: expected {expected!r}, got {actual!r}"]
    return []


def compare_capture_records(actual: list[Any], expected: list[Any]) -> list[str]:
    """Compare captured records (e.g. `[collection, doc]` pairs) one by one with `compare_values`."""
    if len(actual) != len(expected):
        return [f"expected {len(expected)} records, got {len(actual)}"]
    errors: list[str] = []
    for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
        errors.extend(compare_values(a, e, f"/{i}"))
    return errors
