"""What the fake HubSpot account holds: its CRM object types, their last-modified properties,
scopes and associations, and the scopes of its marketing endpoints (hubspot.md §1, §2, §3)."""

from __future__ import annotations

import re
from dataclasses import dataclass

ANCHOR_MS = 1_748_736_000_000
"""2025-06-01T00:00:00Z: the data set's records were created and modified in the 90 days before
it, so every record predates any capture a test starts (backfills read them all, once)."""

DAY_MS = 86_400_000


@dataclass(frozen=True)
class ObjectType:
    name: str  # the path component: companies, contacts, p_cars
    lastmod: str  # the last-modified property searched and sorted on
    id_base: int  # ids are id_base + n (11 digits, like production)
    scope: str  # the scope its endpoints need


OBJECT_TYPES: dict[str, ObjectType] = {
    t.name: t
    for t in (
        ObjectType("companies", "hs_lastmodifieddate", 20_000_000_000, "crm.objects.companies.read"),
        ObjectType("contacts", "lastmodifieddate", 30_000_000_000, "crm.objects.contacts.read"),
        ObjectType("deals", "hs_lastmodifieddate", 40_000_000_000, "crm.objects.deals.read"),
        ObjectType("engagements", "hs_lastmodifieddate", 50_000_000_000, "crm.objects.contacts.read"),
        ObjectType("tickets", "hs_lastmodifieddate", 60_000_000_000, "tickets"),
        ObjectType("products", "hs_lastmodifieddate", 70_000_000_000, "e-commerce"),
        ObjectType("line_items", "hs_lastmodifieddate", 80_000_000_000, "e-commerce"),
        ObjectType("orders", "hs_lastmodifieddate", 90_000_000_000, "crm.objects.orders.read"),
        ObjectType("goals", "hs_lastmodifieddate", 91_000_000_000, "crm.objects.goals.read"),
        ObjectType(
            "feedback_submissions",
            "hs_lastmodifieddate",
            92_000_000_000,
            "crm.objects.feedback_submissions.read",
        ),
        ObjectType("p_cars", "hs_lastmodifieddate", 93_000_000_000, "crm.objects.custom.read"),
    )
}

REQUIRED_SCOPES = (
    "crm.lists.read crm.objects.companies.read crm.objects.contacts.read crm.objects.deals.read "
    "crm.objects.owners.read crm.schemas.companies.read crm.schemas.contacts.read crm.schemas.deals.read "
    "e-commerce forms tickets"
).split()
OPTIONAL_SCOPES = (
    "automation content crm.objects.custom.read crm.objects.feedback_submissions.read crm.objects.goals.read "
    "crm.objects.marketing_events.read crm.objects.orders.read crm.schemas.custom.read marketing.campaigns.read"
).split()
DEFAULT_SCOPES = frozenset(REQUIRED_SCOPES + OPTIONAL_SCOPES) - {
    "crm.objects.goals.read",
    "crm.objects.feedback_submissions.read",
}
"""What the test account granted: everything but goals and feedback submissions (as Estuary's
test account, whose discovery has neither)."""

# Which scope each endpoint needs (first match wins; None: any valid token).
SCOPE_RULES: list[tuple[re.Pattern[str], str | None]] = [
    (re.compile(r"/crm/v3/properties/.*"), None),
    (re.compile(r"/crm/v3/schemas"), "crm.schemas.custom.read"),
    *(
        (re.compile(rf"/crm/v3/objects/{t.name}(/.*)?|/crm/v4/associations/{t.name}/.*"), t.scope)
        for t in OBJECT_TYPES.values()
    ),
    (re.compile(r"/companies/v2/.*"), "crm.objects.companies.read"),
    (re.compile(r"/deals/v1/.*|/crm-pipelines/v1/pipelines/deals"), "crm.objects.deals.read"),
    (re.compile(r"/contacts/v1/.*|/engagements/v1/.*"), "crm.objects.contacts.read"),
    (re.compile(r"/crm-objects/v1/change-log/tickets"), "tickets"),
    (re.compile(r"/crm/v3/owners"), "crm.objects.owners.read"),
    (re.compile(r"/email/public/v1/events|/marketing/v3/emails"), "content"),
    (re.compile(r"/marketing/v3/forms|/form-integrations/.*"), "forms"),
    (re.compile(r"/crm/v3/lists(/.*)?"), "crm.lists.read"),
    (re.compile(r"/marketing/v3/campaigns"), "marketing.campaigns.read"),
    (re.compile(r"/automation/v3/workflows"), "automation"),
    (re.compile(r"/marketing/v3/marketing-events(/.*)?"), "crm.objects.marketing_events.read"),
]

PROPER_PERMISSIONS_PATHS = re.compile(r"/marketing/v3/marketing-events/participations/.*")
"""The endpoint that words a missing scope as "does not have proper permissions" (hubspot.md §6.2)."""


def required_scope(path: str) -> str | None:
    for pattern, scope in SCOPE_RULES:
        if pattern.fullmatch(path):
            return scope
    return None
