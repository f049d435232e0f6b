"""Which CRM object types an account offers: the standard ones, its custom objects
(`GET /crm/v3/schemas`), less those its credentials may not read (hubspot.md §2).

A type whose scope is missing is left out with a log line, so an account that did not grant
an optional scope (goals, feedback submissions, orders, custom objects) still discovers and
captures everything else. Any other error fails discovery: a wrong token or an outage must not
look like an account with fewer objects.
"""

from __future__ import annotations

import logging
from typing import Any

from .. import models
from .client import HubSpot, HubSpotError, MissingScopeError
from .crm_read import CrmType

STANDARD_TYPES: tuple[CrmType, ...] = (
    CrmType("companies", "companies", models.Company, "hs_lastmodifieddate"),
    CrmType("contacts", "contacts", models.Contact, "lastmodifieddate"),
    CrmType("deals", "deals", models.Deal, "hs_lastmodifieddate"),
    CrmType("engagements", "engagements", models.Engagement, "hs_lastmodifieddate"),
    CrmType("tickets", "tickets", models.Ticket, "hs_lastmodifieddate"),
    CrmType("products", "products", models.Product, "hs_lastmodifieddate"),
    CrmType("line_items", "line_items", models.LineItem, "hs_lastmodifieddate"),
    CrmType("orders", "orders", models.Order, "hs_lastmodifieddate"),
    CrmType("goals", "goals", models.Goal, "hs_lastmodifieddate"),
    CrmType("feedback_submissions", "feedback_submissions", models.FeedbackSubmission, "hs_lastmodifieddate"),
)


async def custom_types(client: HubSpot, log: logging.Logger, legacy_naming: bool) -> list[CrmType]:
    """The account's live custom objects. Their API path is `p_<name>` (the plain name is
    refused, d123c2699); their binding is `custom_<name>` so that a custom object named like a
    standard one does not collide with it, unless the legacy naming is asked for."""
    try:
        body = await client.get(log, "/crm/v3/schemas")
    except MissingScopeError as err:
        log.info("custom objects are left out: the credentials lack a scope", {"scopes": err.scopes})
        return []
    results = body.get("results") if isinstance(body, dict) else None
    if not isinstance(results, list):
        raise HubSpotError(f"GET /crm/v3/schemas returned no results list: {str(body)[:300]}")
    found = []
    for schema in results:
        if not isinstance(schema, dict) or schema.get("archived") or not schema.get("name"):
            continue
        name = str(schema["name"])
        binding = name if legacy_naming else f"custom_{name}"
        found.append(CrmType(binding, f"p_{name}", models.CustomObject, "hs_lastmodifieddate"))
    return found


async def readable(client: HubSpot, log: logging.Logger, crm: CrmType) -> bool:
    """Whether the credentials may read `crm`: one single-row page, a missing scope says no."""
    try:
        await client.get(log, f"/crm/v3/objects/{crm.path}", {"limit": 1})
    except MissingScopeError as err:
        log.info(
            "binding left out: the credentials lack a scope",
            {"binding": crm.binding, "scopes": err.scopes},
        )
        return False
    return True


async def available_types(client: HubSpot, log: logging.Logger, legacy_naming: bool) -> list[CrmType]:
    """Every CRM type the credentials may read, standard ones first. In legacy naming a custom
    object shadows the standard type of the same name (as it did in Estuary's connector)."""
    customs = await custom_types(client, log, legacy_naming)
    shadowed = {c.binding for c in customs}
    candidates = [t for t in STANDARD_TYPES if t.binding not in shadowed] + customs
    return [t for t in candidates if await readable(client, log, t)]


def page_after(body: Any) -> str | None:
    """`paging.next.after` of a v3 list response, if more pages remain."""
    if not isinstance(body, dict):
        return None
    following = ((body.get("paging") or {}).get("next") or {}).get("after")
    return str(following) if following is not None else None
