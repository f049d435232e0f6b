"""Config errors that never show a config value: the user knows what they wrote, and the value
may be a secret standing where it does not belong (a token pasted into a discriminator, a
wrong-shaped `credentials`, a syntax error on the line of a password).

* `masked_message(error)`: a pydantic error's message with every value of its input replaced
  by `<value>` (pydantic quotes some: a union tag, a custom validator's text).

(A config file's syntax errors are flowctl's strict loader's, `flowctl.yaml_load`: line and
column, never the text of the line.)
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from pydantic_core import ErrorDetails

__all__ = ["HIDDEN", "masked_message"]

HIDDEN = "<value>"
_MIN_BARE = 4
"""Shorter strings are masked only where the message quotes them ('ab'): bare, they would
match nearly any text."""


def _scalars(value: Any) -> Iterator[str | int | float]:
    if isinstance(value, dict):
        for v in value.values():
            yield from _scalars(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _scalars(v)
    elif isinstance(value, str | int | float) and not isinstance(value, bool):
        yield value


def masked_message(error: ErrorDetails) -> str:
    """`error["msg"]` with the values of `error["input"]` replaced. The schema's own values in
    the message (a limit, the expected tags: the error's `ctx`) are kept."""
    text = str(error.get("msg", "invalid"))
    ctx = error.get("ctx") or {}
    schema_text = " ".join(str(v) for k, v in ctx.items() if k not in ("tag", "error"))
    values = [v for v in _scalars(error.get("input")) if str(v) not in schema_text]
    for value in sorted({v for v in values if isinstance(v, str)}, key=len, reverse=True):
        if not value.strip():
            continue
        if len(value) >= _MIN_BARE:
            text = text.replace(value, HIDDEN)
        else:
            text = text.replace(f"'{value}'", f"'{HIDDEN}'")
    for number in {v for v in values if not isinstance(v, str)}:
        text = re.sub(rf"(?<![\w.]){re.escape(str(number))}(?![\w.])", HIDDEN, text)
    return text
