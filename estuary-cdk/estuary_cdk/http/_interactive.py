"""Whether the request being answered is one a user waits on (`discover`, `validate`).

Retrying a connection fault is right while capturing (a DNS hiccup or a restarting server passes
in seconds, and a capture that gave up would restart from its last checkpoint) but wrong while a
user waits on `validate` or `discover` with a host name they just typed: a name that does not
resolve then is almost always a typo, and a minute of retries only hides it. The connector sets
the request's name here while answering it; the HTTP layer reads it when a name fails to resolve.
A context variable, so every task the request starts sees it and a capture in the same process
does not.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_ANSWERING: ContextVar[str | None] = ContextVar("estuary_cdk_interactive_request", default=None)


@contextmanager
def answering(request: str) -> Iterator[None]:
    """While the body runs, HTTP requests belong to `request` (e.g. "validate"), which a user
    waits on: a host name that does not resolve fails them at once (`HostNotFoundError`)."""
    token = _ANSWERING.set(request)
    try:
        yield
    finally:
        _ANSWERING.reset(token)


def interactive_request() -> str | None:
    """The user-facing request being answered in this context, or None (e.g. a capture)."""
    return _ANSWERING.get()
