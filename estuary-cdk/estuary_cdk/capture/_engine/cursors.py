"""Cursor types and the marker that distinguishes dict page cursors from dict documents."""

from enum import Enum
from typing import Any

from pydantic import AwareDatetime, NonNegativeInt

LogCursor = tuple[str | int] | AwareDatetime | NonNegativeInt
"""A position in a logical log of changes: an aware datetime ("changed since"), a non-negative
offset, or a 1-tuple holding a string or int (a plain ``str`` would make parsing ambiguous with
datetimes, hence the tuple)."""

PageCursor = str | int | dict[str, Any] | None
"""A position in a paged result set. ``None`` means "start a new iteration" when passed to a
fetch function. Dict cursors must be marked with ``make_cursor_dict``."""

CURSOR_MARKER = "__flow_cursor__"


class Triggers(Enum):
    """Sentinels a fetch function may yield to ask the engine for an action."""

    BACKFILL = "BACKFILL"


def is_cursor_dict(d: Any) -> bool:
    """True if ``d`` is a dict explicitly marked as a page cursor (not a document)."""
    return type(d) is dict and d.get(CURSOR_MARKER) is True


def make_cursor_dict(d: dict[str, Any]) -> dict[str, Any]:
    """Return a copy of ``d`` marked as a page cursor, so the engine checkpoints it instead of
    capturing it as a document."""
    return {**d, CURSOR_MARKER: True}


def pop_cursor_marker(d: dict[str, Any]) -> dict[str, Any]:
    """Return a copy of the cursor dict ``d`` without its marker."""
    out = dict(d)
    out.pop(CURSOR_MARKER, None)
    return out
