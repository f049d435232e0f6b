"""Property definitions of the fake account's objects and their values.

Values are computed from (record id, property) rather than stored, so 25,000 contacts with 400
properties each cost nothing until a page of them is rendered; a record stores only the values
a test changed (and their history).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, datetime

from .catalog import ANCHOR_MS, DAY_MS, OBJECT_TYPES

_ENUM_OPTIONS = ("lead", "subscriber", "opportunity", "customer", "evangelist")
_STANDARD_KINDS = ("string", "number", "enumeration", "bool", "datetime", "date", "phone_number")


@functools.lru_cache(maxsize=4096)
def _day(days: int) -> str:
    return datetime.fromtimestamp(days * 86_400, tz=UTC).strftime("%Y-%m-%dT")


def iso(ms: int) -> str:
    """HubSpot's CRM timestamps: ISO 8601 with milliseconds and a Z. (Arithmetic below the
    day: the fake renders millions of them for a benchmark's pages.)"""
    days, rest = divmod(ms, 86_400_000)
    seconds, millis = divmod(rest, 1000)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    return f"{_day(days)}{hours:02d}:{minutes:02d}:{seconds:02d}.{millis:03d}Z"


@dataclass(frozen=True)
class PropertyDef:
    name: str
    type: str  # string, number, enumeration, bool, datetime, date, phone_number
    index: int
    calculated: bool = False
    custom: bool = False

    def definition(self, object_name: str) -> dict[str, object]:
        """The entry `GET /crm/v3/properties/{object}` returns (hubspot.md §3.5)."""
        field_type = {
            "string": "text",
            "number": "number",
            "enumeration": "select",
            "bool": "booleancheckbox",
        }
        out: dict[str, object] = {
            "name": self.name,
            "label": self.name.replace("_", " ").title(),
            "type": self.type,
            "fieldType": field_type.get(self.type, "text"),
            "groupName": f"{object_name}information",
            "options": [
                {"label": o.title(), "value": o, "displayOrder": i, "hidden": False}
                for i, o in enumerate(_ENUM_OPTIONS)
            ]
            if self.type == "enumeration"
            else [],
            "calculated": self.calculated,
            "hidden": False,
            "displayOrder": self.index,
            "formField": not self.calculated,
            "createdAt": iso(ANCHOR_MS - 400 * DAY_MS),
            "updatedAt": iso(ANCHOR_MS - 200 * DAY_MS),
            "modificationMetadata": {
                "archivable": True,
                "readOnlyDefinition": not self.custom,
                "readOnlyValue": self.calculated,
            },
            "dataSensitivity": "non_sensitive",
        }
        if not self.custom:
            out["hubspotDefined"] = True
        if self.calculated:
            out["calculationFormula"] = "sum(hs_num_child_companies, 1)"
        return out


def _key_properties(lastmod: str, contacts: bool) -> list[tuple[str, str]]:
    base = [("createdate", "datetime"), (lastmod, "datetime"), ("hs_object_id", "number")]
    if contacts:
        base += [("email", "string"), ("firstname", "string"), ("lastname", "string")]
    return base


def build_properties(
    object_name: str, total: int, custom: int, calculated: int, long_custom_names: bool = False
) -> list[PropertyDef]:
    """`total` properties: the key ones (createdate, last-modified, hs_object_id; and email,
    first and last name for contacts), standard ones of every type, `custom` custom ones and
    `calculated` calculated ones."""
    obj = OBJECT_TYPES[object_name]
    names = _key_properties(obj.lastmod, object_name == "contacts")
    props = [PropertyDef(name, kind, i) for i, (name, kind) in enumerate(names)]
    standard = total - len(props) - custom - calculated
    if standard < 0:
        raise ValueError(f"{object_name}: {total} properties cannot hold the key, custom and calculated ones")
    for n in range(standard):
        kind = _STANDARD_KINDS[n % len(_STANDARD_KINDS)]
        props.append(PropertyDef(f"hs_{kind}_field_{n}", kind, len(props)))
    for n in range(custom):
        name = (
            f"custom_property_with_a_long_internal_name_for_reporting_{n:04d}"
            if long_custom_names
            else f"custom_field_{n}"
        )
        props.append(PropertyDef(name, ("string", "number", "enumeration")[n % 3], len(props), custom=True))
    for n in range(calculated):
        props.append(PropertyDef(f"hs_calculated_score_{n}", "number", len(props), calculated=True))
    return props


def _mix(record_id: int, index: int) -> int:
    return ((record_id * 2_654_435_761) ^ (index * 40_503 + 0x9E3779B9)) & 0xFFFF_FFFF


def base_value(prop: PropertyDef, record_id: int, created_ms: int, updated_ms: int, lastmod: str) -> str:
    """A property's value as the data set defines it (before any test changes it). About one
    value in thirteen is "" (a cleared property, which the connector turns into null)."""
    if prop.name == "hs_object_id":
        return str(record_id)
    if prop.name == "createdate":
        return iso(created_ms)
    if prop.name == lastmod:
        return iso(updated_ms)
    h = _mix(record_id, prop.index)
    if prop.name == "email":
        return f"person{record_id % 100_000}@example.com"
    if not prop.calculated and h % 13 == 0:
        return ""
    kind = prop.type
    if kind == "number":
        return str(h % 100_000)
    if kind == "bool":
        return "true" if h % 2 else "false"
    if kind == "enumeration":
        return _ENUM_OPTIONS[h % len(_ENUM_OPTIONS)]
    if kind == "datetime":
        return iso(created_ms + h % DAY_MS)
    if kind == "date":
        return iso(created_ms - created_ms % DAY_MS)[:10]
    if kind == "phone_number":
        return f"+1 555 {h % 10_000:04d}"
    return f"{prop.name[:12]} {h % 1000}"
