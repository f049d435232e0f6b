"""The bindings read as streams of changes outside the CRM objects (hubspot.md §2.1), each
offered only when discovery's probe says the credentials may read it:

* `marketing_emails`, `workflows`: a backfill, then the realtime + delayed pair, their listings
  carrying the documents;
* `form_submissions`: one cursor in epoch milliseconds, from 0 (no backfill);
* `contact_lists`, `contact_list_memberships`, `campaigns`: a backfill, then a look-back re-read
  deduplicated by the emitted-changes cache.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from estuary_cdk.capture.common import Resource, ResourceState
from estuary_cdk.http import Clock

from .api import campaigns, form_submissions, lists, marketing_emails, workflows
from .api.client import HubSpot
from .api.properties import Properties
from .carried import carried_resource
from .lookback import lookback_resource
from .models import (
    Campaign,
    ContactList,
    ContactListMembership,
    FormSubmission,
    MarketingEmail,
    ResourceConfig,
    Workflow,
)
from .opening import opener
from .scopes import granted

Built = Resource[Any, ResourceConfig, ResourceState]

LISTS_INTERVAL = timedelta(hours=3)
SUBMISSIONS_INTERVAL = timedelta(minutes=5)
POLL_INTERVAL = timedelta(minutes=5)
"""Marketing emails, workflows and campaigns are polled every 5 minutes, not back to back as
Estuary's connector does (interval 0). Back to back, a realtime stream asks again as soon as it
is answered (marketing emails: four requests a poll), spending the account's request budget
(HubSpot's limit is the account's, shared by its apps) on listings that rarely change."""


def form_submissions_resource(client: HubSpot) -> Built:
    name = "form_submissions"
    open = opener(fetch_changes=functools.partial(form_submissions.fetch_form_submissions, client))
    return Resource(
        name=name,
        key=["/formId", "/submittedAt"],
        model=FormSubmission,
        open=open,
        initial_state=ResourceState(inc=ResourceState.Incremental(cursor=0)),
        initial_config=ResourceConfig(name=name, interval=SUBMISSIONS_INTERVAL),
        schema_inference=True,
    )


def _builders(
    client: HubSpot, properties: Properties, lag: timedelta, clock: Clock
) -> list[tuple[str, Callable[[HubSpot, logging.Logger], Awaitable[Any]], Callable[[], Built]]]:
    """Each binding: its name, its probe, and how it is built."""
    memberships = "contact_list_memberships"
    return [
        ("marketing_emails", marketing_emails.probe_marketing_emails, lambda: carried_resource(
            client, "marketing_emails", MarketingEmail, marketing_emails.fetch_marketing_emails_page,
            marketing_emails.list_marketing_emails, lag, clock, POLL_INTERVAL)),
        ("workflows", workflows.probe_workflows, lambda: carried_resource(
            client, "workflows", Workflow, workflows.fetch_workflows_page, workflows.list_workflows, lag, clock,
            POLL_INTERVAL)),
        ("form_submissions", form_submissions.probe_form_submissions,
         lambda: form_submissions_resource(client)),
        ("contact_lists", lists.probe_lists, lambda: lookback_resource(
            "contact_lists", ["/listId"], ContactList, functools.partial(lists.fetch_lists_page, client),
            functools.partial(lists.changed_lists, client), clock, LISTS_INTERVAL)),
        (memberships, lists.probe_memberships, lambda: lookback_resource(
            memberships, ["/listId", "/recordId"], ContactListMembership,
            functools.partial(lists.fetch_memberships_page, client),
            functools.partial(lists.changed_memberships, client), clock, LISTS_INTERVAL)),
        ("campaigns", campaigns.probe_campaigns, lambda: lookback_resource(
            "campaigns", ["/id"], Campaign, functools.partial(campaigns.fetch_campaigns_page, client, properties),
            functools.partial(campaigns.changed_campaigns, client, properties), clock, POLL_INTERVAL)),
    ]  # fmt: skip


async def stream_resources(
    client: HubSpot, properties: Properties, log: logging.Logger, lag: timedelta, clock: Clock
) -> list[Built]:
    """The bindings of this module the credentials may read, in a fixed order."""
    return [
        build()
        for name, probe, build in _builders(client, properties, lag, clock)
        if await granted(log, name, functools.partial(probe, client, log))
    ]
