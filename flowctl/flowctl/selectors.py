"""Which journal documents a materialization binding reads (flow-protocol §4.3): its
`source.partitions` selector (include / exclude by logical partition field values) and its
`notBefore` / `notAfter` bounds on the documents' publication time (their UUID clock)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import quote

from . import json_pointer
from .catalog import Collection
from .errors import CatalogError
from .gazette_uuid import G1582_NS100, parse
from .materializations import Materialization, MaterializationBinding
from .projections import build_projections

DocFilter = Callable[[dict[str, Any]], bool]


def label_value(value: Any) -> str:
    """A partition value as Flow encodes it in labels (`%_` prefix for non-strings)."""
    if value is None:
        return "%_null"
    if isinstance(value, bool):
        return "%_true" if value else "%_false"
    if isinstance(value, int):
        return f"%_{value}"
    return quote(str(value), safe="-_.")


def _instant(m: Materialization, b: MaterializationBinding, key: str, text: str) -> int:
    """An RFC 3339 bound as 100 ns ticks since the epoch."""
    try:
        stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise CatalogError(
            m.file, f"{b.location}/source/{key}", f"{text!r} is not an RFC 3339 timestamp"
        ) from None
    if stamp.tzinfo is None:
        raise CatalogError(m.file, f"{b.location}/source/{key}", f"{text!r} needs a time zone (e.g. Z)")
    return int(stamp.timestamp() * 10_000_000)


def check_selector(m: Materialization, b: MaterializationBinding, collection: Collection) -> None:
    """Selector fields must be partition keys of the collection; bounds must be ordered."""
    partitions = {p["field"]: p for p in build_projections(collection) if p.get("isPartitionKey")}
    for category, labels in (b.partitions or {}).items():
        for name in labels:
            if name not in partitions:
                raise CatalogError(
                    m.file,
                    f"{b.location}/source/partitions/{category}/{json_pointer.escape(name)}",
                    f"{name!r} is not a partition field of collection {collection.name!r} "
                    f"(partition fields: {', '.join(sorted(partitions)) or 'none'})",
                )
    if (
        b.not_before
        and b.not_after
        and _instant(m, b, "notBefore", b.not_before) > _instant(m, b, "notAfter", b.not_after)
    ):
        raise CatalogError(m.file, f"{b.location}/source", "`notBefore` is after `notAfter`")


def document_filter(
    m: Materialization, b: MaterializationBinding, collection: Collection, uuid_ptr: str
) -> DocFilter | None:
    """A predicate over the binding's documents, or None when it reads them all."""
    check_selector(m, b, collection)
    ptrs = {p["field"]: json_pointer.split(p.get("ptr", "")) for p in build_projections(collection)}
    include = {
        f: {label_value(v) for v in vs} for f, vs in ((b.partitions or {}).get("include") or {}).items()
    }
    exclude = {
        f: {label_value(v) for v in vs} for f, vs in ((b.partitions or {}).get("exclude") or {}).items()
    }
    low = _instant(m, b, "notBefore", b.not_before) if b.not_before else None
    high = _instant(m, b, "notAfter", b.not_after) if b.not_after else None
    if not include and not exclude and low is None and high is None:
        return None
    uuid_tokens = json_pointer.split(uuid_ptr)

    def accept(doc: dict[str, Any]) -> bool:
        for name, allowed in include.items():
            if label_value(json_pointer.query(doc, ptrs[name])) not in allowed:
                return False
        for name, denied in exclude.items():
            if label_value(json_pointer.query(doc, ptrs[name])) in denied:
                return False
        if low is not None or high is not None:
            try:
                _, clock, _ = parse(str(json_pointer.query(doc, uuid_tokens)))
            except ValueError:
                return True  # no publication time to compare
            ticks = (clock >> 4) - G1582_NS100
            if (low is not None and ticks < low) or (high is not None and ticks > high):
                return False
        return True

    return accept
