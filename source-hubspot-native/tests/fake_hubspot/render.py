"""CRM records as the v3 APIs return them (hubspot.md §3.1-3.4)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .properties import iso
from .store import CrmStore, Record, TypeStore


def record_json(
    crm: CrmStore,
    store: TypeStore,
    rec: Record,
    properties: Iterable[str],
    with_history: Iterable[str] | None = None,
    associations: Iterable[str] | None = None,
) -> dict[str, Any]:
    """One object: `properties` holds every requested property the object has (values are
    strings, "" when cleared); `associations` one entry per (id, type), as v3 inline
    associations do (an id with a labeled and an unlabeled type appears twice)."""
    values: dict[str, str] = {}
    for name in properties:
        value = store.value(rec, name)
        if value is not None:
            values[name] = value
    out: dict[str, Any] = {
        "id": str(rec.id),
        "properties": values,
        "createdAt": iso(rec.created_ms),
        "updatedAt": iso(rec.updated_ms),
        "archived": rec.archived,
        "url": f"https://app.hubspot.com/contacts/123/record/{store.obj.name}/{rec.id}",
    }
    if with_history is not None:
        out["propertiesWithHistory"] = {
            name: store.history(rec, name) for name in with_history if name in store.by_name
        }
    if associations:
        inline: dict[str, Any] = {}
        for target in associations:
            edges = crm.associations(store.obj.name, rec.id, target)
            if edges:
                inline[target] = {
                    "results": [
                        {"id": str(to_id), "type": kind.name}
                        for to_id, kinds in sorted(edges.items())
                        for kind in kinds
                    ]
                }
        if inline:
            out["associations"] = inline
    return out


def search_row(store: TypeStore, rec: Record, indexed_ms: int, stale_body: bool) -> dict[str, Any]:
    """A search result: the default properties only (hubspot.md §3.3). The last-modified value
    is the one the index holds, unless `stale_body` shows the record's current body in the
    indexed (stale) slot (#2210)."""
    shown = rec.updated_ms if stale_body else indexed_ms
    props = {"createdate": iso(rec.created_ms), store.obj.lastmod: iso(shown), "hs_object_id": str(rec.id)}
    if store.obj.name == "contacts":
        for name in ("email", "firstname", "lastname"):
            props[name] = store.value(rec, name) or ""
    return {
        "id": str(rec.id),
        "properties": props,
        "createdAt": iso(rec.created_ms),
        "updatedAt": iso(shown),
        "archived": rec.archived,
    }
