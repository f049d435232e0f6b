"""Discovery's scope check: a binding whose probe HubSpot refuses for a missing scope is left
out with a log line naming it; any other error fails discovery (hubspot.md §2)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from .api.client import MissingScopeError


async def granted(log: logging.Logger, binding: str, probe: Callable[[], Awaitable[Any]]) -> bool:
    """Whether the credentials may read `binding`, asked by one small request (`probe`)."""
    try:
        await probe()
    except MissingScopeError as err:
        log.info(
            "binding left out: the credentials lack a scope",
            {"binding": binding, "scopes": err.scopes},
        )
        return False
    return True
