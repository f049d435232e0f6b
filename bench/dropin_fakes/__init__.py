"""Small local fakes of vendors' APIs for `bench/dropin_captures.py`, one module per connector.

Each module `source_x.py` defines `CONNECTOR` (the connector's name), `PATTERN` (what of the kit
it exercises), `HOSTS` (the vendor host names redirected to it), `CONFIG` (the endpoint config
the connector runs with, or `config(anchor)` making it), `BINDINGS` (the discovered
`recommendedName`s captured), optionally `NOTES`, `IDLE`, `LIMIT` (seconds
of a time-bounded run), `RESOURCE_OVERRIDES` (per binding name, merged into its resource config), `DROP_FIELDS` (document
fields left out of the comparison: a known difference its NOTES explain) and `WEBHOOKS` ((path, body) posted to
the connector's webhook server once it has checkpointed), and `app(anchor)` building a fresh
aiohttp application with its seeded data (dated from `anchor` where the connector only reads
recent data, so both kits' runs see the same). Only the endpoints those bindings call are
served, with a few pages each; the shapes follow the connector's own models (read from its
source, never copied)."""

from __future__ import annotations

from aiohttp import web


def require_header(request: web.Request, name: str, value: str) -> None:
    """401 unless the request carries header `name` equal to `value`."""
    if request.headers.get(name) != value:
        raise web.HTTPUnauthorized(text=f"bad or missing {name}")
