"""The seeded data set of hubspot.md §6.5 ("small": unit tests and CI), scalable for the
stress scenarios and the benchmark.

Everything comes from `random.Random(seed)`, so two fakes built with the same seed and sizes
answer identically: the capture snapshot test compares documents byte for byte.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from estuary_cdk.testing import ApiClock

from .catalog import ANCHOR_MS, DAY_MS
from .properties import build_properties, iso
from .store import CrmStore, Record

EMAIL_EVENT_TYPES = (
    "SENT DROPPED PROCESSED DELIVERED DEFERRED BOUNCE OPEN CLICK PRINT FORWARD STATUSCHANGE SPAMREPORT "
    "SUPPRESSED SUPPRESSION"
).split()
FORM_TYPES = ("hubspot", "captured", "flow", "blog_comment", "embedded", "landing_page")


@dataclass(frozen=True)
class Sizes:
    """Record counts per object type and the shape of contacts' properties (§6.5, small)."""

    companies: int = 120
    contacts: int = 300
    contact_properties: int = 60
    contact_custom: int = 8
    contact_calculated: int = 5
    long_custom_names: bool = False
    deals: int = 150
    engagements: int = 400
    tickets: int = 60
    products: int = 20
    line_items: int = 80
    orders: int = 30
    cars: int = 40
    owners: int = 12
    form_submissions: int = 50
    email_events: int = 1000
    marketing_emails: int = 15
    memberships: int = 600
    campaigns: int = 5
    workflows: int = 4
    participants: int = 10


@dataclass
class Marketing:
    """Everything outside the CRM object store, as the endpoints return it (hubspot.md §3.5-3.7)."""

    owners: list[dict[str, Any]] = field(default_factory=list)
    pipelines: list[dict[str, Any]] = field(default_factory=list)
    forms: list[dict[str, Any]] = field(default_factory=list)
    submissions: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # form id -> newest first
    email_events: list[dict[str, Any]] = field(default_factory=list)
    emails: list[dict[str, Any]] = field(default_factory=list)
    hidden_with_stats: set[str] = field(default_factory=set)
    lists: list[dict[str, Any]] = field(default_factory=list)
    memberships: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # list id -> by join time
    campaigns: list[dict[str, Any]] = field(default_factory=list)
    campaign_properties: list[dict[str, Any]] = field(default_factory=list)
    workflows: list[dict[str, Any]] = field(default_factory=list)
    marketing_events: list[dict[str, Any]] = field(default_factory=list)
    participants: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # event objectId -> rows


def _times(rng: random.Random) -> tuple[int, int]:
    created = ANCHOR_MS - rng.randrange(30 * DAY_MS, 90 * DAY_MS)
    return created, created + rng.randrange(0, 25 * DAY_MS)


def build_crm(clock: ApiClock, sizes: Sizes, seed: int) -> CrmStore:
    rng = random.Random(seed)
    crm = CrmStore(clock)
    counts = {
        "companies": sizes.companies,
        "contacts": sizes.contacts,
        "deals": sizes.deals,
        "engagements": sizes.engagements,
        "tickets": sizes.tickets,
        "products": sizes.products,
        "line_items": sizes.line_items,
        "orders": sizes.orders,
        "goals": 0,
        "feedback_submissions": 0,
        "p_cars": sizes.cars,
    }
    for name, count in counts.items():
        if name == "contacts":
            props = build_properties(
                name,
                sizes.contact_properties,
                sizes.contact_custom,
                sizes.contact_calculated,
                sizes.long_custom_names,
            )
        else:
            props = build_properties(name, 14, 2, 1)
        store = crm.add_type(name, props)
        records = []
        for n in range(1, count + 1):
            created, updated = _times(rng)
            records.append(Record(store.obj.id_base + n, created, updated, archived=False))
        crm.load(name, records)
    _associate(crm, rng)
    return crm


def _ids(crm: CrmStore, name: str) -> list[int]:
    return sorted(crm.types[name].records)


def _associate(crm: CrmStore, rng: random.Random) -> None:
    """Every deal has 1-3 contacts; about a fifth of the edges carry a second (labeled) type."""
    contacts, companies, deals = _ids(crm, "contacts"), _ids(crm, "companies"), _ids(crm, "deals")
    engagements, tickets, line_items = _ids(crm, "engagements"), _ids(crm, "tickets"), _ids(crm, "line_items")
    products, orders, cars = _ids(crm, "products"), _ids(crm, "orders"), _ids(crm, "p_cars")

    def link(a: str, a_id: int, b: str, b_id: int) -> None:
        crm.associate(a, a_id, b, b_id, labeled=rng.random() < 0.2)

    if not contacts:
        return
    for deal in deals:
        for contact in rng.sample(contacts, rng.randint(1, min(3, len(contacts)))):
            link("deals", deal, "contacts", contact)
        if companies:
            link("deals", deal, "companies", rng.choice(companies))
    for i, contact in enumerate(contacts):
        if companies and i % 3:
            link("contacts", contact, "companies", companies[i % len(companies)])
    for line_item in line_items:
        if deals:
            link("line_items", line_item, "deals", rng.choice(deals))
        if products:
            link("line_items", line_item, "products", rng.choice(products))
    for engagement in engagements:
        link("engagements", engagement, "contacts", rng.choice(contacts))
        if deals and rng.random() < 0.5:
            link("engagements", engagement, "deals", rng.choice(deals))
        if companies and rng.random() < 0.3:
            link("engagements", engagement, "companies", rng.choice(companies))
    for ticket in tickets:
        link("tickets", ticket, "contacts", rng.choice(contacts))
        if engagements and rng.random() < 0.5:
            link("tickets", ticket, "engagements", rng.choice(engagements))
    for order in orders:
        link("orders", order, "contacts", rng.choice(contacts))
        if companies:
            link("orders", order, "companies", rng.choice(companies))
    for car in cars:
        link("p_cars", car, "contacts", rng.choice(contacts))


def build_marketing(sizes: Sizes, seed: int, contact_ids: list[int]) -> Marketing:
    rng = random.Random(seed + 1)
    m = Marketing()
    for n in range(sizes.owners):
        created, updated = _times(rng)
        m.owners.append(
            {
                "id": str(12_236_000 + n),
                "email": f"owner{n}@example.com",
                "firstName": f"Owner{n}",
                "lastName": "Example",
                "userId": 9_000_000 + n,
                "userIdIncludingInactive": 9_000_000 + n,
                "type": "PERSON",
                "createdAt": iso(created),
                "updatedAt": iso(updated),
                "archived": False,
            }
        )
    for p in range(2):
        m.pipelines.append(
            {
                "pipelineId": "default" if p == 0 else f"pipeline{p}",
                "label": f"Sales Pipeline {p}",
                "objectType": "DEAL",
                "objectTypeId": "0-3",
                "active": True,
                "default": p == 0,
                "displayOrder": p,
                "createdAt": 0 if p == 0 else ANCHOR_MS - 300 * DAY_MS,
                "updatedAt": ANCHOR_MS - 100 * DAY_MS + p,
                "stages": [
                    {
                        "stageId": f"stage{p}_{s}",
                        "label": f"Stage {s}",
                        "displayOrder": s,
                        "active": True,
                        "metadata": {"isClosed": str(s >= 5).lower(), "probability": f"{s / 6:.1f}"},
                        "createdAt": ANCHOR_MS - 300 * DAY_MS + s,
                        "updatedAt": ANCHOR_MS - 100 * DAY_MS + s,
                    }
                    for s in range(7)
                ],
            }
        )
    _forms(m, rng, sizes)
    _email(m, rng, sizes)
    _lists(m, rng, sizes, contact_ids)
    _campaigns(m, rng, sizes)
    for n in range(sizes.workflows):
        created, updated = _times(rng)
        m.workflows.append(
            {
                "id": 3_000_000 + n,
                "name": f"Workflow {n}",
                "type": "DRIP_DELAY",
                "enabled": n % 2 == 0,
                "insertedAt": created,
                "updatedAt": updated,
                "portalId": 123,
            }
        )
    _events(m, rng, sizes, contact_ids)
    return m


def _forms(m: Marketing, rng: random.Random, sizes: Sizes) -> None:
    for n, kind in enumerate(FORM_TYPES):
        created, updated = _times(rng)
        form_id = f"form-{n:04d}-0000-0000-000000000000"
        m.forms.append(
            {
                "id": form_id,
                "name": f"{kind} form",
                "formType": kind,
                "createdAt": iso(created),
                "updatedAt": iso(updated),
                "archived": False,
                "fieldGroups": [],
            }
        )
        m.submissions[form_id] = []
    targets = [f["id"] for f in m.forms if f["formType"] != "blog_comment"]
    for n in range(sizes.form_submissions):
        form_id = targets[n % len(targets)]
        m.submissions[form_id].append(
            {
                "submittedAt": ANCHOR_MS - rng.randrange(DAY_MS, 60 * DAY_MS) - n,
                "values": [{"name": "email", "value": f"visitor{n}@example.com"}],
                "pageUrl": f"https://example.com/landing/{n}",
            }
        )
    for rows in m.submissions.values():
        rows.sort(key=lambda s: -s["submittedAt"])


def _email(m: Marketing, rng: random.Random, sizes: Sizes) -> None:
    for n in range(sizes.email_events):
        event: dict[str, Any] = {
            "id": f"evt-{n:06d}-{rng.randrange(16**8):08x}",
            "created": ANCHOR_MS - rng.randrange(DAY_MS, 40 * DAY_MS),
            "recipient": f"person{n % 300}@example.com",
            "emailCampaignId": 700 + n % 9,
            "portalId": 123,
            "appId": 113,
            "sentBy": {"id": f"sent-{n // 5}", "created": ANCHOR_MS - 41 * DAY_MS},
        }
        if n % 50 != 7:  # an event without a type is an UNBOUNCE (hubspot.md §3.6)
            event["type"] = EMAIL_EVENT_TYPES[n % len(EMAIL_EVENT_TYPES)]
        m.email_events.append(event)
    m.email_events.sort(key=lambda e: (e["created"], e["id"]))
    for n in range(sizes.marketing_emails):
        created, updated = _times(rng)
        email_id = str(88_000_000_000 + n)
        m.emails.append(
            {
                "id": email_id,
                "name": f"Newsletter {n}",
                "subject": f"News #{n}",
                "state": "PUBLISHED",
                "createdAt": iso(created),
                "updatedAt": iso(updated),
                "archived": n % 5 == 4,
                "stats": {"counters": {"sent": 100 + n, "open": 40 + n}},
            }
        )
        if n in (1, 2):  # HubSpot's includeStats=true omits some emails (#3331)
            m.hidden_with_stats.add(email_id)


def _lists(m: Marketing, rng: random.Random, sizes: Sizes, contact_ids: list[int]) -> None:
    per_list = sizes.memberships // 6 if contact_ids else 0
    for n in range(8):
        created, updated = _times(rng)
        list_id = str(500 + n)
        object_type = "0-1" if n < 6 else "0-2"
        m.lists.append(
            {
                "listId": list_id,
                "name": f"List {n}",
                "objectTypeId": object_type,
                "processingType": "MANUAL",
                "createdAt": iso(created),
                "updatedAt": iso(updated),
                "additionalProperties": {"hs_lastmodifieddate": str(updated)},
            }
        )
        members = rng.sample(contact_ids, min(per_list, len(contact_ids))) if object_type == "0-1" else []
        m.memberships[list_id] = sorted(
            (
                {
                    "recordId": str(cid),
                    "membershipTimestamp": iso(created + rng.randrange(0, updated - created + 1)),
                }
                for cid in members
            ),
            key=lambda row: (row["membershipTimestamp"], row["recordId"]),
        )


def _campaigns(m: Marketing, rng: random.Random, sizes: Sizes) -> None:
    readable = [
        "hs_name",
        "hs_start_date",
        "hs_end_date",
        "hs_campaign_status",
        "hs_owner",
        "campaign_region",
    ]
    for n in range(sizes.campaigns):
        created, updated = _times(rng)
        m.campaigns.append(
            {
                "id": f"cmp-{n:04d}-{rng.randrange(16**8):08x}",
                "createdAt": iso(created),
                "updatedAt": iso(updated),
                "businessUnits": [{"id": 0}],
                "properties": {
                    "hs_name": f"Campaign {n}",
                    "hs_start_date": iso(created)[:10],
                    "hs_end_date": "",
                    "hs_campaign_status": "active",
                    "hs_owner": "12236000",
                    "campaign_region": "EMEA",
                },
            }
        )
    for i, name in enumerate([*readable, "hs_object_source", "hubspot_team_id"]):
        m.campaign_properties.append({"name": name, "type": "string", "label": name, "displayOrder": i})


def _events(m: Marketing, rng: random.Random, sizes: Sizes, contact_ids: list[int]) -> None:
    for n in range(2):
        created, updated = _times(rng)
        object_id = str(560_000_000_000 + n)
        m.marketing_events.append(
            {
                "objectId": object_id,
                "eventName": f"Webinar {n}",
                "eventType": "WEBINAR",
                "startDateTime": iso(created),
                "endDateTime": iso(created + 3_600_000),
                "eventOrganizer": "Acme",
                "eventDescription": "A webinar",
                "eventUrl": f"https://example.com/webinar/{n}",
                "eventCancelled": False,
                "externalEventId": f"ext-{n}",
                "createdAt": iso(created),
                "updatedAt": iso(updated),
            }
        )
        rows = []
        for p in range(sizes.participants // 2):
            contact = contact_ids[(n * 31 + p * 7) % len(contact_ids)] if contact_ids else 0
            rows.append(
                {
                    "id": str(561_000_000_000 + n * 100 + p),
                    "createdAt": iso(created + p),
                    "properties": {
                        "attendanceState": ("REGISTERED", "ATTENDED", "CANCELLED")[p % 3],
                        "occurredAt": created + p * 1000,
                        "attendancePercentage": str(p * 10),
                    },
                    "associations": {
                        "contact": {
                            "contactId": str(contact),
                            "email": f"person{contact % 100_000}@example.com",
                        },
                        "marketingEvent": {"marketingEventId": object_id, "name": f"Webinar {n}"},
                    },
                }
            )
        m.participants[object_id] = rows
