"""The backfill task: pages through a FetchPageFn from a page cursor up to the cutoff.

It counts what it captured (a local increment per document: this loop is the kit's hot path,
measured by bench/cdk_emit.py) to say, when the backfill completes, how many documents and
pages it took, and to catch the classic mistake of a fetch_page that forgets to yield its next
page cursor: the backfill then ends after one page, silently, with most of the data never read.
"""

import asyncio
import copy
from datetime import datetime
from typing import Any

from ...cron import next_fire
from ...flow import CaptureBinding
from ...utils import json_merge_patch
from ..document import AssociatedDocument, BaseDocument
from ..task import Task
from .config import ResourceConfigWithSchedule
from .cursors import CURSOR_MARKER, pop_cursor_marker
from .fetch_fns import FetchPageFn, RecurringFetchPageFn, aclose, is_recurring_fetch_page_fn
from .state import ConnectorState, ResourceState
from .stop import scheduled_stop
from .waits import describe_binding

_DOCUMENT_TYPES = (BaseDocument, dict)


def looks_like_page_size(documents: int) -> bool:
    """Whether a page of `documents` looks cut off by a page size (10, 20, 25, 50, 100, 200,
    250, 500, 1000, ..., or any multiple of 100) rather than by the end of the data."""
    if documents < 10:
        return False
    if documents % 100 == 0:
        return True
    mantissa = documents
    while mantissa % 10 == 0:
        mantissa //= 10
    return mantissa in (1, 2, 5, 25)


def _wrap(state_key: str, backfill: Any, subtask_id: str | None) -> ConnectorState[ResourceState]:
    value = backfill if subtask_id is None else {subtask_id: backfill}
    return ConnectorState(bindingStateV1={state_key: ResourceState(backfill=value)})


async def binding_backfill_task(
    binding: CaptureBinding[Any],
    binding_index: int,
    fetch_page: FetchPageFn | RecurringFetchPageFn,
    state: ResourceState.Backfill,
    is_connector_initiated: bool,
    last_initialized: datetime | None,
    task: Task,
    subtask_id: str | None = None,
) -> None:
    state_key: str = binding.stateKey
    connector_state = _wrap(state_key, state, subtask_id)
    log_args = {"state": state.model_dump(mode="json"), "subtask_id": subtask_id}
    resumed = state.next_page is not None
    if resumed:
        task.log.info("resuming backfill", log_args)
    else:
        task.log.info(
            "beginning backfill",
            log_args,
            extra={"observable": True, "catalog_task_name": task.catalog_task_name},
        )

    recurring = is_recurring_fetch_page_fn(
        fetch_page, task.log, state.next_page, state.cutoff, is_connector_initiated
    )
    stopping = task.stopping.event
    captured = task.captured
    checkpoint = task.checkpoint
    # Hot loop: locals, and the cheapest checks first (plain dicts, then models).
    marker = CURSOR_MARKER
    document_types = _DOCUMENT_TYPES
    documents = 0  # captured by this task in this session, into any binding
    pages = 0  # fetch_page invocations

    task.connector_status.inc_backfilling(binding_index)
    try:
        while True:
            await asyncio.sleep(0)
            if stopping.is_set():
                task.log.debug(
                    "backfill is yielding to stop",
                    {"subtask_id": subtask_id, "documents": documents, "pages": pages},
                )
                return

            # Dict cursors are patched in place as the fetch yields; it gets its own copy.
            page = copy.deepcopy(state.next_page) if type(state.next_page) is dict else state.next_page
            if recurring:
                gen: Any = fetch_page(task.log, page, state.cutoff, is_connector_initiated)  # type: ignore[call-arg]
            else:
                gen = fetch_page(task.log, page, state.cutoff)  # type: ignore[call-arg]

            # No per-document bookkeeping beyond a count: whether the invocation ended on a
            # cursor is read from the last item after the loop.
            item: Any = None
            pages += 1
            try:
                async for item in gen:
                    cls = type(item)
                    if cls is dict:
                        if marker in item and item[marker] is True:
                            await _checkpoint_dict_cursor(task, state, item, state_key, subtask_id)
                        else:
                            captured(binding_index, item)
                            documents += 1
                    elif isinstance(item, document_types):
                        captured(binding_index, item)
                        documents += 1
                    elif isinstance(item, AssociatedDocument):
                        captured(item.binding, item.doc)
                        documents += 1
                    elif cls is str or cls is int:
                        state.next_page = item
                        await checkpoint(connector_state)
                    elif item is None:
                        raise RuntimeError(
                            "Implementation error: FetchPageFn yielded PageCursor None. To represent "
                            "end-of-sequence, yield documents and return without a final PageCursor."
                        )
                    else:
                        raise RuntimeError(
                            f"Implementation error: FetchPageFn yielded {item!r}, which is neither a "
                            "document nor a PageCursor (str, int, or a dict from make_cursor_dict)."
                        )
            finally:
                await aclose(gen)

            cls = type(item)
            if not (cls is str or cls is int or (cls is dict and item.get(marker) is True)):
                break  # The invocation ended without a trailing cursor: the backfill is done.

        await checkpoint(_wrap(state_key, None, subtask_id))
        _report_completion(task, describe_binding(binding, subtask_id), documents, pages, resumed, subtask_id)
    finally:
        task.connector_status.dec_backfilling(binding_index)

    config = binding.resourceConfig
    if isinstance(config, ResourceConfigWithSchedule) and config.schedule and last_initialized:
        now = task.clock.now()
        if next_fire(config.schedule, last_initialized, now):
            task.log.info(
                "Backfill completed after the next backfill was scheduled. "
                "Resetting the connector to keep adherence to the schedule."
            )
            stopping.set()
            return
        future = next_fire(config.schedule, now)
        if future is not None:
            await scheduled_stop(task, future)


def _report_completion(
    task: Task, what: str, documents: int, pages: int, resumed: bool, subtask_id: str | None
) -> None:
    """Say what the backfill captured, and warn when it looks cut short after its first page."""
    since = " since it resumed" if resumed else ""
    fields = {"subtask_id": subtask_id, "documents": documents, "pages": pages, "resumed": resumed}
    task.log.info(
        f"completed backfill of {what}: {documents} {_plural(documents, 'document')} "
        f"in {pages} {_plural(pages, 'page')}{since}",
        fields,
    )
    if pages == 1 and not resumed and looks_like_page_size(documents):
        task.log.warning(
            f"the backfill of {what} ended after its first page, of {documents} documents: a round "
            "number, as if the page size cut it and more pages exist. fetch_page must yield the next "
            "page cursor after the page's documents; returning without one ends the backfill",
            fields,
        )


def _plural(n: int, noun: str) -> str:
    return noun if n == 1 else noun + "s"


async def _checkpoint_dict_cursor(
    task: Task,
    state: ResourceState.Backfill,
    item: dict[str, Any],
    state_key: str,
    subtask_id: str | None,
) -> None:
    """Checkpoint a dict page cursor. The first one is the whole cursor; later ones are merge
    patches of it, applied in memory and checkpointed as patches (so a large cursor map with a
    small change costs a small checkpoint)."""
    patch = pop_cursor_marker(item)
    previous = state.next_page
    if previous is None:
        whole: dict[str, Any] = {}
        json_merge_patch(whole, patch)
        state.next_page = whole
        await task.checkpoint(_wrap(state_key, state, subtask_id))
    elif type(previous) is dict:
        json_merge_patch(previous, patch)
        partial = ResourceState.Backfill.model_construct(cutoff=state.cutoff, next_page=patch)
        await task.checkpoint(_wrap(state_key, partial, subtask_id))
    else:
        raise RuntimeError(
            f"Implementation error: FetchPageFn yielded a dict PageCursor after the non-dict "
            f"PageCursor {previous!r}"
        )
