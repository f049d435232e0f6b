"""Form submissions (hubspot.md §2.1, §3.7): no change feed and no backfill, one cursor in
epoch milliseconds from 0. A poll lists the account's forms, then each form's submissions,
newest first, down to the cursor; the newest submission seen becomes the cursor. Blog-comment
forms take no submissions (HubSpot answers 400 FORM_TYPE_NOT_ALLOWED): they are not asked."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator
from typing import Any

from ..models import FormSubmission
from .client import HubSpot
from .listing import all_rows, first_row

FORMS = "/marketing/v3/forms"
LIMIT = 50
NO_SUBMISSIONS = frozenset({"blog_comment"})


def submissions_path(form_id: str) -> str:
    return f"/form-integrations/v1/submissions/forms/{form_id}"


async def _forms(client: HubSpot, log: logging.Logger) -> list[str]:
    """The ids of the forms that take submissions (every form type: without `formTypes=all`
    HubSpot lists only `hubspot` forms, 9eaf74627)."""
    return [
        str(form["id"])
        async for form in all_rows(client, log, FORMS, {"limit": 500, "formTypes": "all"})
        if form.get("id") and form.get("formType") not in NO_SUBMISSIONS
    ]


async def fetch_form_submissions(
    client: HubSpot, log: logging.Logger, cursor: Any
) -> AsyncGenerator[FormSubmission | int, None]:
    """Every submission after `cursor` (ms), then the newest one's time as the next cursor."""
    newest = cursor
    for form_id in await _forms(client, log):
        # Newest first: the pages end at the first submission the cursor has passed.
        async for row in all_rows(client, log, submissions_path(form_id), {"limit": LIMIT}):
            submission = FormSubmission.model_validate({**row, "formId": form_id})
            if submission.submittedAt <= cursor:
                break
            newest = max(newest, submission.submittedAt)
            yield submission
    if newest > cursor:
        yield newest


async def probe_form_submissions(client: HubSpot, log: logging.Logger) -> Any:
    """The first submission of the first `hubspot` form, if there is one."""
    form = await first_row(client, log, FORMS, {"formTypes": "hubspot"})
    if form is not None and form.get("id"):
        await first_row(client, log, submissions_path(str(form["id"])))
