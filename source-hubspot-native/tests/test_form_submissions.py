"""The form_submissions binding against the fake (hubspot.md §2.1, §3.7): one cursor in epoch
milliseconds from 0; a poll reads each form's submissions newest first down to the cursor (the
blog-comment form, which HubSpot refuses, is never asked) and moves the cursor to the newest
submission; an idle poll leaves it where it is."""

from __future__ import annotations

import re
from typing import Any

from change_streams import cursors_of, docs_of
from fake_hubspot import FakeHubSpot, Sizes
from fake_hubspot.marketing_control import submit
from harness import LOG, Connected, collect, connected
from source_hubspot_native.api import dual
from source_hubspot_native.api.form_submissions import fetch_form_submissions, submissions_path
from source_hubspot_native.models import FormSubmission

SUBMISSIONS = re.compile(r"/form-integrations/v1/submissions/forms/.*")


async def poll(c: Connected, cursor: int) -> tuple[list[FormSubmission], list[int]]:
    out = await collect(fetch_form_submissions(c.client, LOG, cursor))
    return docs_of(out), cursors_of(out)


def stored(fake: FakeHubSpot) -> list[tuple[str, int]]:
    return sorted((form, s["submittedAt"]) for form, rows in fake.marketing.submissions.items() for s in rows)


def many(clock: Any) -> FakeHubSpot:
    """120 submissions a form: three pages each."""
    return FakeHubSpot(seed=7, sizes=Sizes(form_submissions=600), clock=clock)


async def test_the_first_poll_reads_every_submission_and_the_next_only_what_is_new() -> None:
    async with connected() as c:
        docs, cursors = await poll(c, 0)
        assert sorted((d.formId, d.submittedAt) for d in docs) == stored(c.fake)
        assert len(docs) == 50
        assert cursors == [max(d.submittedAt for d in docs)]
        by_key = {(f, s["submittedAt"]): s for f, rows in c.fake.marketing.submissions.items() for s in rows}
        for doc in docs:
            raw = doc.model_dump(mode="json", exclude={"meta_"})
            assert raw["values"] == by_key[(doc.formId, doc.submittedAt)]["values"]
        blog = next(f["id"] for f in c.fake.marketing.forms if f["formType"] == "blog_comment")
        assert c.requests(submissions_path(blog)) == []
        # Idle: nothing, and no new cursor.
        assert await poll(c, cursors[0]) == ([], [])
        # A new submission to one form: it alone, and its time as the cursor.
        c.clock.advance(5)
        form = c.fake.marketing.forms[0]["id"]
        new = submit(c.fake, form)
        docs, following = await poll(c, cursors[0])
        assert [(d.formId, d.submittedAt) for d in docs] == [(form, new["submittedAt"])]
        assert following == [new["submittedAt"]] and new["submittedAt"] == dual.to_ms(c.clock.now())


async def test_a_poll_pages_newest_first_only_down_to_the_cursor() -> None:
    async with connected(many) as c:
        docs, cursors = await poll(c, 0)
        assert len(docs) == 600 and sorted((d.formId, d.submittedAt) for d in docs) == stored(c.fake)
        first = len(c.server.requests.matching(SUBMISSIONS))
        assert first == 5 * 3  # five forms take submissions, 120 each, 50 a page
        c.clock.advance(1)
        form = c.fake.marketing.forms[2]["id"]
        new = submit(c.fake, form)
        docs, following = await poll(c, cursors[0])
        assert [(d.formId, d.submittedAt) for d in docs] == [(form, new["submittedAt"])]
        assert following == [new["submittedAt"]]
        assert len(c.server.requests.matching(SUBMISSIONS)) - first == 5  # one page a form
