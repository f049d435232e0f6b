"""Discovery with missing scopes (hubspot.md §2; §6.4 #12): a binding whose scope the account
did not grant is left out with a log line naming it; any other 403 fails discovery loudly."""

from __future__ import annotations

import pytest
from estuary_cdk.http import HTTPError
from estuary_cdk.testing import capture_logger
from fake_hubspot import DEFAULT_SCOPES
from harness import connected, endpoint_config
from source_hubspot_native.resources import all_resources

ALL = [
    "companies", "contacts", "deals", "engagements", "tickets", "products", "line_items", "orders", "custom_cars",
    "email_events", "owners", "deal_pipelines", "forms", "marketing_events", "marketing_event_participants",
    "properties", "marketing_emails", "workflows", "form_submissions", "contact_lists", "contact_list_memberships",
    "campaigns",
]  # fmt: skip


async def discovered(scopes: frozenset[str] | None = None) -> tuple[list[str], list[str]]:
    log, logs = capture_logger("test")
    async with connected() as c:
        if scopes is not None:
            c.fake.set_scopes(scopes)
        resources = await all_resources(log, c.http, endpoint_config(c.server.url), with_schemas=True)
    return [r.name for r in resources], [line for line in logs.text.splitlines() if "left out" in line]


async def test_every_granted_binding_is_discovered() -> None:
    names, left_out = await discovered()
    assert names == ALL
    assert left_out == [] or all("goals" in line or "feedback_submissions" in line for line in left_out)


async def test_bindings_without_their_scope_are_left_out_with_a_log_line() -> None:
    missing = {
        "crm.objects.marketing_events.read",
        "forms",
        "crm.schemas.custom.read",
        "crm.objects.orders.read",
        "content",
    }
    names, left_out = await discovered(DEFAULT_SCOPES - missing)
    gone = {
        "forms",
        "marketing_events",
        "marketing_event_participants",
        "custom_cars",
        "orders",
        "email_events",
        "marketing_emails",
        "form_submissions",
    }
    assert names == [n for n in ALL if n not in gone]
    said = "\n".join(left_out)
    for binding in ("forms", "marketing_events", "orders", "email_events"):
        assert f'"binding":"{binding}"' in said.replace(" ", "")
    assert "custom objects are left out" in "\n".join(left_out) or "crm.schemas.custom.read" in said


async def test_the_other_change_streams_without_their_scope_are_left_out_with_a_log_line() -> None:
    """Workflows (automation), lists and their memberships (crm.lists.read), campaigns
    (marketing.campaigns.read)."""
    names, left_out = await discovered(
        DEFAULT_SCOPES - {"automation", "crm.lists.read", "marketing.campaigns.read"}
    )
    gone = {"workflows", "contact_lists", "contact_list_memberships", "campaigns"}
    assert names == [n for n in ALL if n not in gone]
    said = "\n".join(left_out).replace(" ", "")
    for binding, scope in [("workflows", "automation"), ("contact_lists", "crm.lists.read"),
                           ("contact_list_memberships", "crm.lists.read"), ("campaigns", "marketing.campaigns.read")]:  # fmt: skip
        assert f'"binding":"{binding}","scopes":["{scope}"]' in said, binding


async def test_the_proper_permissions_wording_is_a_missing_scope_too() -> None:
    """The participations endpoint says "does not have proper permissions" (Estuary widened its
    pattern for it twice)."""
    async with connected() as c:
        c.fake.set_scopes(DEFAULT_SCOPES)
        c.server.faults.status(
            403,
            body=b'{"status":"error","message":"This app does not have proper permissions!","category":"MISSING_SCOPES"}',
            path="/marketing/v3/marketing-events/participations/"
            + c.fake.marketing.marketing_events[0]["objectId"]
            + "/breakdown",
        )
        log, _ = capture_logger("test")
        names = [r.name for r in await all_resources(log, c.http, endpoint_config(c.server.url))]
    assert "marketing_event_participants" not in names and "marketing_events" in names


@pytest.mark.parametrize("path", ["/crm/v3/owners", "/automation/v3/workflows", "/crm/v3/lists/search"])
async def test_another_403_fails_discovery_loudly(path: str) -> None:
    async with connected() as c:
        c.server.faults.status(
            403,
            body=b'{"status":"error","message":"This portal is locked.","category":"FORBIDDEN"}',
            path=path,
        )
        log, _ = capture_logger("test")
        with pytest.raises(HTTPError) as raised:
            await all_resources(log, c.http, endpoint_config(c.server.url))
    assert raised.value.code == 403 and "This portal is locked." in str(raised.value)
