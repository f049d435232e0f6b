"""Entry point of every connector's `connector` script."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

__all__ = ["main"]


def main(connector: Any, argv: list[str] | None = None) -> None:
    """With no arguments, serve the protocol on stdin/stdout."""
    args = sys.argv[1:] if argv is None else argv
    if not args:
        asyncio.run(connector.serve())
        return
    raise SystemExit("connector commands are not implemented yet")
