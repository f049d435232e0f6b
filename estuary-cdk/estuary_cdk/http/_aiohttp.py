"""aiohttp, loaded the first time one of its names is used.

Every capture connector is an `HTTPMixin`, but many processes never send a request: Flow starts
a fresh process for each `spec`, `discover` and `validate`, and some connectors only compute or
read files. Importing aiohttp costs about 0.1 s and 10 MB, so the HTTP layer refers to it
through this lazily executed module; the first attribute access (in practice, the first
request) runs the real import.
"""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType
from typing import TYPE_CHECKING


def _lazy(name: str) -> ModuleType:
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError(f"No module named {name!r}", name=name)
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    return module


if TYPE_CHECKING:
    import aiohttp
else:
    aiohttp = _lazy("aiohttp")

__all__ = ["aiohttp"]
