"""Readable snapshot mismatches for connector tests: which document changed, and where in it.

Connector tests compare flowctl's output with pytest-insta snapshots (`snapshot("x.json") ==
lines`). When they differ, pytest prints the first differing item, truncated, and the full diff
only with -vv. This hook instead lists the differing documents by index (with their collection
and key-like fields) and each changed location inside them as a JSON pointer:

    1 of 25 items differ (in `snapshot(...) == value` the left side is the recorded snapshot; ...)
      [3] acmeCo/items id=4: /1/title: "item 4" != "Item 4"

A connector's tests/conftest.py enables it with
`from flowctl.snapshot_diff import pytest_assertrepr_compare  # noqa: F401`."""

from __future__ import annotations

from typing import Any

import orjson

_MAX_DOCUMENTS = 10
_MAX_LOCATIONS = 6
_MISSING: Any = object()


def _show(value: Any, limit: int = 80) -> str:
    if value is _MISSING:
        return "(missing)"
    try:
        text = orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    except TypeError:
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def changes(left: Any, right: Any, at: str = "") -> list[str]:
    """Every location (a JSON pointer) where `left` and `right` differ, with both values."""
    if isinstance(left, dict) and isinstance(right, dict):
        out: list[str] = []
        for key in sorted(set(left) | set(right), key=str):
            token = str(key).replace("~", "~0").replace("/", "~1")
            out.extend(changes(left.get(key, _MISSING), right.get(key, _MISSING), f"{at}/{token}"))
        return out
    if isinstance(left, list) and isinstance(right, list):
        out = []
        for i in range(max(len(left), len(right))):
            a = left[i] if i < len(left) else _MISSING
            b = right[i] if i < len(right) else _MISSING
            out.extend(changes(a, b, f"{at}/{i}"))
        return out
    same = left == right and type(left) is type(right)
    return [] if same else [f"{at or '/'}: {_show(left)} != {_show(right)}"]


def _label(item: Any) -> str:
    """What identifies a document of flowctl's output: the collection of a `[name, doc]` line,
    and its id-like fields."""
    doc = item
    name = ""
    if isinstance(item, list) and len(item) == 2 and isinstance(item[0], str):
        name, doc = item
    if not isinstance(doc, dict):
        return name
    ids = [
        f"{k}={_show(v, 30)}"
        for k, v in doc.items()
        if k in ("id", "key", "name", "code") or k.endswith("_id")
    ]
    meta = doc.get("_meta")
    if isinstance(meta, dict) and "row_id" in meta:
        ids.append(f"row_id={meta['row_id']}")
    return " ".join(part for part in (name, *ids[:3]) if part)


def explain(left: Any, right: Any) -> list[str] | None:
    """pytest's explanation lines for `left == right` on JSON documents, or None (pytest's own)."""
    if not (isinstance(left, list | dict) and isinstance(right, list | dict)) or type(left) is not type(
        right
    ):
        return None
    if isinstance(left, dict):
        found = changes(left, right)
        return (
            ["snapshot comparison: the documents differ at:", *(f"  {c}" for c in found[:20])]
            if found
            else None
        )
    lines: list[str] = []
    differing = 0
    for i in range(max(len(left), len(right))):
        a = left[i] if i < len(left) else _MISSING
        b = right[i] if i < len(right) else _MISSING
        if a is _MISSING or b is _MISSING:
            side = "right" if a is _MISSING else "left"
            lines.append(f"  [{i}] only on the {side}: {_show(b if a is _MISSING else a, 160)}")
            differing += 1
            continue
        found = changes(a, b)
        if found:
            differing += 1
            if differing <= _MAX_DOCUMENTS:
                more = f" (and {len(found) - _MAX_LOCATIONS} more)" if len(found) > _MAX_LOCATIONS else ""
                lines.append(f"  [{i}] {_label(a)}: " + "; ".join(found[:_MAX_LOCATIONS]) + more)
    if not differing:
        return None
    shown = lines[: _MAX_DOCUMENTS + 5]
    header = (
        f"{differing} of {max(len(left), len(right))} items differ (in `snapshot(...) == value` the "
        "left side is the recorded snapshot; `pytest --insta update` records the new output)"
    )
    return [header, *shown]


def pytest_assertrepr_compare(config: Any, op: str, left: Any, right: Any) -> list[str] | None:
    """The pytest hook (import it into a conftest.py)."""
    return explain(left, right) if op == "==" else None
