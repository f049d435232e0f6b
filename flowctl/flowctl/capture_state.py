"""What a capture's reduced state says about its progress, read the way the kit writes it
(flow-protocol §2.4 conventions: `bindingStateV1.<stateKey>` holding `inc` {cursor}, `backfill`
{cutoff, next_page} (absent or null once complete) and `snapshot` {updated_at, last_count}, each
possibly a dict of subtask states). Besides the documents, this is all preview can observe of a
connector's progress: whether backfills are done, and when the kit will poll next (a binding's
resource `interval` after its cursor or its last poll). A connector whose state has another
shape simply shows no backfill and no schedule."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from .build import BuiltCapture
from .durations import parse_duration
from .errors import UsageError


@dataclass
class BindingView:
    """An enabled binding, as preview reports on it."""

    collection: str
    state_key: str
    interval: float  # seconds between polls (the resource's `interval`; the kit's default is 0)
    interval_text: str  # as the catalog writes it, e.g. PT5M
    keyed_by_row: bool = False  # collection key /_meta/row_id: the kit's snapshot bindings


def _interval(resource: dict[str, Any]) -> tuple[float, str]:
    value = resource.get("interval")
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value), f"{value}s"
    if isinstance(value, str):
        try:
            return parse_duration(value), value
        except UsageError:
            return 0.0, value
    return 0.0, ""


def binding_views(built: BuiltCapture) -> list[BindingView]:
    views = []
    for b in built.bindings:
        seconds, text = _interval(b.resource)
        keyed_by_row = b.collection.key == [ROW_ID_POINTER]
        views.append(BindingView(b.collection.name, b.state_key, seconds, text, keyed_by_row))
    return views


ROW_ID_POINTER = "/_meta/row_id"


def binding_state(state: dict[str, Any], state_key: str) -> dict[str, Any] | None:
    per_binding = state.get("bindingStateV1")
    value = per_binding.get(state_key) if isinstance(per_binding, dict) else None
    return value if isinstance(value, dict) else None


def _is_single(value: Any, field: str) -> bool:
    return isinstance(value, dict) and field in value


def _subtasks(value: Any, field: str) -> dict[str, Any]:
    """Subtask states of an `inc`/`backfill`/`snapshot` entry (a single state is subtask "")."""
    if _is_single(value, field):
        return {"": value}
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if isinstance(v, dict)}
    return {}


def backfill_in_progress(binding: dict[str, Any] | None) -> str | None:
    """A description of the backfill still to do ("next page 30"), or None when there is none."""
    if binding is None:
        return None
    running = _subtasks(binding.get("backfill"), "cutoff")
    if not running:
        return None
    if len(running) == 1 and "" in running:
        page = running[""].get("next_page")
        return "first page" if page is None else f"next page {_clip(page, 60)}"
    return f"{len(running)} subtasks ({', '.join(sorted(running)[:5])})"


def parse_time(value: Any) -> float | None:
    """Seconds since the epoch of an RFC 3339 string, else None."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.timestamp() if parsed.tzinfo is not None else None


def next_poll(
    view: BindingView, binding: dict[str, Any] | None, anchor: float, now: float
) -> tuple[str, float] | None:
    """("poll" | "snapshot", wall time) of the kit's next fetch for the binding, estimated from its
    state: a snapshot runs `interval` after the last one; an incremental poll waits until its
    datetime cursor is `interval` old, and an empty poll sleeps `interval` (anchor: the binding's
    last checkpoint this session, else the session's Open). None when it polls continuously,
    is backfilling, or its state says nothing."""
    if binding is None or view.interval <= 0 or backfill_in_progress(binding):
        return None
    snapshots = _subtasks(binding.get("snapshot"), "updated_at")
    times = [t for s in snapshots.values() if (t := parse_time(s.get("updated_at"))) is not None]
    if times:
        return "snapshot", _after(min(times) + view.interval, view.interval, now)
    cursors = _subtasks(binding.get("inc"), "cursor")
    if not cursors:
        return None
    due = anchor
    dated = [t for s in cursors.values() if (t := parse_time(s.get("cursor"))) is not None]
    if dated:
        due = max(anchor, min(dated) + view.interval)
    return "poll", _after(due, view.interval, now)


def _after(due: float, interval: float, now: float) -> float:
    """`due`, or when a poll that was due then (and came back empty) is next due."""
    if due > now:
        return due
    return due + interval * (int((now - due) // interval) + 1)


_BOOKKEEPING = frozenset({"last_initialized", "is_connector_initiated"})


def first_snapshot_pending(view: BindingView, binding: dict[str, Any] | None) -> bool:
    """A snapshot binding (keyed by row) whose state the kit has initialized but which holds no
    progress yet: its first pass, which the kit starts at open, is still to commit. A binding
    without state, or of another shape, is not known to be pending."""
    return view.keyed_by_row and binding is not None and not set(binding) - _BOOKKEEPING


def describe(binding: dict[str, Any] | None, had_backfill: bool) -> str:
    """One binding's final state in a few words (the preview summary)."""
    if binding is None:
        return "no state"
    parts: list[str] = []
    running = backfill_in_progress(binding)
    if running:
        parts.append(f"backfill IN PROGRESS ({running})")
    elif had_backfill:
        parts.append("backfill done")
    cursors = _subtasks(binding.get("inc"), "cursor")
    if len(cursors) == 1:
        parts.append(f"cursor {_clip(next(iter(cursors.values())).get('cursor'), 40)}")
    elif cursors:
        parts.append(f"{len(cursors)} incremental cursors")
    for sub, snap in sorted(_subtasks(binding.get("snapshot"), "updated_at").items()):
        label = f"snapshot {sub}" if sub else "snapshot"
        parts.append(f"{label} of {snap.get('last_count', '?')} rows at {snap.get('updated_at')}")
    if parts:
        return "; ".join(parts)
    progress = {k: v for k, v in binding.items() if k not in _BOOKKEEPING}
    return _clip(progress, 120) if progress else "nothing captured yet"


def _clip(value: Any, limit: int) -> str:
    try:
        text = orjson.dumps(value).decode()
    except TypeError:
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def clock(wall: float) -> str:
    """A wall time as the log lines show theirs (UTC)."""
    return datetime.fromtimestamp(wall, tz=UTC).strftime("%H:%M:%SZ")


def span(seconds: float) -> str:
    """A duration as flowctl's flags take them: 4m54s, 1h0m, 3s."""
    whole = max(0, round(seconds))
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{(whole % 3600) // 60:02d}m"
