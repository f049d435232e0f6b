"""The fake account's CRM records: per object type, the records, their property definitions,
what the search index and the legacy change APIs see of them, and the associations between
them; with the mutations tests make (hubspot.md §6.1).

Thread-safe: the fake serves from a thread while a test changes the data.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from estuary_cdk.testing import ApiClock, LaggedIndex

from .catalog import OBJECT_TYPES, ObjectType
from .properties import PropertyDef, base_value, iso

HistoryEntry = tuple[int, str, str]  # (timestamp ms, value, sourceType)


@dataclass(slots=True)
class Record:
    id: int
    created_ms: int
    updated_ms: int
    archived: bool = False
    overrides: dict[str, str] | None = None  # values a test set
    history: dict[str, list[HistoryEntry]] | None = None  # changes after creation


@dataclass
class TypeStore:
    """One object type's records and indexes."""

    obj: ObjectType
    props: list[PropertyDef]
    records: dict[int, Record] = field(default_factory=dict)
    current: LaggedIndex[int] = field(default_factory=lambda: LaggedIndex(0))
    """Immediately consistent (the legacy recent-change APIs read it)."""
    search: LaggedIndex[int] = field(default_factory=lambda: LaggedIndex(0))
    """The search index, `search_lag_ms` behind."""
    changes: list[tuple[int, int, str]] = field(default_factory=list)
    """(ms, id, changeType) of every change, oldest first (the tickets change log)."""

    def __post_init__(self) -> None:
        self.by_name = {p.name: p for p in self.props}

    def value(self, rec: Record, name: str) -> str | None:
        """A property's current value (None for a property the object does not have)."""
        if rec.overrides is not None and name in rec.overrides:
            return rec.overrides[name]
        prop = self.by_name.get(name)
        if prop is None:
            return None
        return base_value(prop, rec.id, rec.created_ms, rec.updated_ms, self.obj.lastmod)

    def history(self, rec: Record, name: str) -> list[dict[str, Any]]:
        """A property's history, newest first, as `propertiesWithHistory` lists it."""
        prop = self.by_name.get(name)
        if prop is None:
            return []
        entries = [
            (
                rec.created_ms,
                base_value(prop, rec.id, rec.created_ms, rec.created_ms, self.obj.lastmod),
                "CRM_UI",
            )
        ]
        entries += (rec.history or {}).get(name, [])
        if name == self.obj.lastmod:
            entries = [(rec.updated_ms, iso(rec.updated_ms), "CALCULATED")]
        return [
            {"value": v, "timestamp": iso(ts), "sourceType": src, "sourceId": "fake-hubspot"}
            for ts, v, src in reversed(entries)
        ]


@dataclass
class AssociationType:
    type_id: int
    label: str | None
    name: str  # the v3 inline `type` string


class CrmStore:
    """Every CRM object type of the fake account."""

    def __init__(self, clock: ApiClock, search_lag_ms: int = 0) -> None:
        self.clock = clock
        self.types: dict[str, TypeStore] = {}
        self.lock = threading.RLock()
        self._search_lag_ms = search_lag_ms
        # (from type, to type) -> from id -> to id -> association types
        self.edges: dict[tuple[str, str], dict[int, dict[int, list[AssociationType]]]] = {}

    # --- building -------------------------------------------------------------------------

    def add_type(self, name: str, props: list[PropertyDef]) -> TypeStore:
        store = TypeStore(OBJECT_TYPES[name], props)
        store.search.lag_ms = self._search_lag_ms
        self.types[name] = store
        return store

    def load(self, name: str, records: Iterable[Record]) -> None:
        """Records that predate the test: settled in every index at once."""
        store = self.types[name]
        with self.lock:
            for rec in records:
                store.records[rec.id] = rec
            items = [(rec.id, rec.updated_ms) for rec in store.records.values()]
            store.current.load(items)
            store.search.load(items)
            store.changes = sorted((rec.updated_ms, rec.id, "CHANGED") for rec in store.records.values())

    def associate(self, a: str, a_id: int, b: str, b_id: int, labeled: bool = False) -> None:
        """An association both ways: unlabeled, plus a labeled one when `labeled`."""
        with self.lock:
            for (src, src_id), (dst, dst_id) in (((a, a_id), (b, b_id)), ((b, b_id), (a, a_id))):
                kinds = [
                    AssociationType(_type_id(src, dst, 0), None, f"{_singular(src)}_to_{_singular(dst)}")
                ]
                if labeled:
                    kinds.append(
                        AssociationType(
                            _type_id(src, dst, 1), "Primary", f"{_singular(src)}_to_{_singular(dst)}_primary"
                        )
                    )
                self.edges.setdefault((src, dst), {}).setdefault(src_id, {})[dst_id] = kinds

    @property
    def search_lag_ms(self) -> int:
        return self._search_lag_ms

    @search_lag_ms.setter
    def search_lag_ms(self, value: int) -> None:
        self._search_lag_ms = value
        for store in self.types.values():
            store.search.lag_ms = value

    # --- mutations ----------------------------------------------------------------------------

    def mutate(
        self,
        name: str,
        record_id: int,
        properties: dict[str, str],
        at_ms: int | None = None,
        touch: bool = True,
    ) -> Record:
        """Change properties (appending history). `touch` moves the last-modified time to `at_ms`
        (default: now); calculated properties change without it (hubspot.md §2.2)."""
        store = self.types[name]
        now = self.clock.now_ms()
        with self.lock:
            rec = store.records[record_id]
            if rec.overrides is None:
                rec.overrides, rec.history = {}, {}
            assert rec.history is not None
            for prop, value in properties.items():
                rec.overrides[prop] = value
                rec.history.setdefault(prop, []).append((at_ms or now, value, "API"))
            if touch:
                self._touch(store, rec, at_ms if at_ms is not None else now, now)
            return rec

    def create(self, name: str, properties: dict[str, str] | None = None, at_ms: int | None = None) -> Record:
        store = self.types[name]
        now = self.clock.now_ms()
        stamp = at_ms if at_ms is not None else now
        with self.lock:
            new_id = max(store.records, default=store.obj.id_base) + 1
            rec = Record(new_id, stamp, stamp, overrides=dict(properties or {}), history={})
            store.records[new_id] = rec
            self._touch(store, rec, stamp, now, "CREATED")
            return rec

    def delete(self, name: str, record_id: int) -> None:
        store = self.types[name]
        now = self.clock.now_ms()
        with self.lock:
            store.records.pop(record_id, None)
            store.current.delete(record_id, now)
            store.search.delete(record_id, now)
            bisect.insort(store.changes, (now, record_id, "DELETED"))

    def bulk_touch(self, name: str, ids: Iterable[int], at_ms: int | None = None) -> int:
        """Stamp every record of `ids` with one identical last-modified millisecond (HubSpot's
        month-end batch updates, hubspot.md §5); returns it."""
        store = self.types[name]
        now = self.clock.now_ms()
        stamp = at_ms if at_ms is not None else now
        with self.lock:
            for record_id in ids:
                self._touch(store, store.records[record_id], stamp, now)
        return stamp

    def _touch(self, store: TypeStore, rec: Record, stamp: int, now: int, kind: str = "CHANGED") -> None:
        rec.updated_ms = stamp
        if rec.overrides is not None:
            rec.overrides.pop(store.obj.lastmod, None)
        store.current.write(rec.id, stamp, now)
        store.search.write(rec.id, stamp, now)
        bisect.insort(store.changes, (stamp, rec.id, kind))

    # --- reading ------------------------------------------------------------------------------

    def associations(self, src: str, src_id: int, dst: str) -> dict[int, list[AssociationType]]:
        return self.edges.get((src, dst), {}).get(src_id, {})


def _singular(name: str) -> str:
    return {"companies": "company", "p_cars": "cars"}.get(name, name.rstrip("s"))


def _type_id(src: str, dst: str, labeled: int) -> int:
    return (sum(map(ord, src)) * 7 + sum(map(ord, dst)) * 3) % 900 + 1 + labeled * 1000
