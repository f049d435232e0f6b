"""What `flowctl preview` tells the user while a capture runs, and when it is caught up.

Everything goes to stderr as INFO logs (stdout carries only documents and state lines, which
tests parse): a progress line per committed transaction (documents per collection, checkpoints,
the running rate, backfill progress read from the state; a transaction with no documents and no
backfill progress at most every 5s), a notice when the connector has been
quiet for a while (what it waits for: each binding's next poll, the session's end), a note at
each session boundary, and the summary at the end, also after Ctrl-C/SIGTERM.

Caught up (`--until-caught-up`), from what the protocol lets the runtime observe:
  1. the reduced state shows no backfill in progress and no snapshot binding (keyed by
     `/_meta/row_id`) whose state is initialized but holds no pass yet (capture_state.py; a
     connector whose state has no `bindingStateV1` backfills counts as having none), once at
     least one transaction committed in the run, or once the connector answered Opened to a state that already holds
     every binding with no backfill in progress (a resume of a capture that was caught up: an
     incremental fetch that finds nothing and an unchanged snapshot commit nothing at all), and
  2. since then (or since Opened), the connector committed no document for `--caught-up-idle`
     (default 5s):
     it is quiet, or it checkpoints state only (e.g. an unchanged snapshot), which is what an
     incremental fetch that comes back empty looks like from outside; or its session ended
     because the connector exited."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from . import capture_state as cs
from .capture_state import BindingView
from .logs import OpsLog, timestamp

WAIT_NOTICE_AFTER = 5.0  # seconds without a transaction before saying what preview waits for
WAIT_NOTICE_EVERY = 60.0
CAUGHT_UP_IDLE = 5.0
# A transaction without documents or backfill progress (e.g. a snapshot pass that found nothing
# new) gets a progress line only if none was printed for this long.
QUIET_PROGRESS_EVERY = 5.0


class PreviewWatch:
    """Counters, notices and the caught-up test of one preview run (all sessions)."""

    def __init__(
        self,
        views: list[BindingView],
        emit: Callable[[OpsLog], None],
        until_caught_up: bool = False,
        caught_up_idle: float = CAUGHT_UP_IDLE,
        timeout: float | None = None,
    ) -> None:
        self.views = views
        self.emit = emit
        self.until_caught_up = until_caught_up
        self.caught_up_idle = caught_up_idle
        self.timeout = timeout
        self.started = time.monotonic()
        self.docs: dict[str, int] = {v.collection: 0 for v in views}
        self.checkpoints = 0
        self.transactions = 0
        self.sessions = 0
        self.session_txns = 0
        self.state: dict[str, Any] = {}
        self.had_backfill = [False for _ in views]
        self.activity = [time.time() for _ in views]  # wall time of each binding's last checkpoint
        self.last_docs_at: float | None = None  # monotonic
        self.opened_at: float | None = None  # monotonic: the connector's Opened, this session
        self.stopping = asyncio.Event()
        self.stopped_by = ""
        self.ended_by = ""  # why the last session ended
        self._wait_from = time.monotonic()
        self._notices = 0
        self._last_progress = 0.0

    # --- events ------------------------------------------------------------------------------
    def _info(self, message: str, **fields: Any) -> None:
        self.emit(OpsLog(timestamp(), "info", message, {"source": "flowctl", **fields}, plain=True))

    def stop(self, reason: str) -> None:
        """Stop the run (a signal): the session ends without starting another transaction."""
        if not self.stopping.is_set():
            self.stopped_by = reason
            self._info(f"preview: stopping ({reason}); the summary follows")
            self.stopping.set()

    def session_opened(self, number: int, state: dict[str, Any]) -> None:
        self.sessions = number
        self.opened_at = None
        self.session_txns = 0
        self.ended_by = ""
        self.observe(state, None)
        now = time.time()
        self.activity = [now for _ in self.views]
        later = [text for text, when in self._schedule(now) if when - now > WAIT_NOTICE_AFTER]
        if later:
            self._info(f"preview: session {number} opened; by the connector's schedule: " + "; ".join(later))

    def connector_opened(self) -> None:
        """The connector answered Opened: a resumed, caught-up capture may be quiet from here."""
        self.opened_at = time.monotonic()

    def session_ended(self, reason: str, more: bool, capture_interval: int) -> None:
        self.ended_by = reason
        if more and not self.done():
            self._info(
                f"preview: session {self.sessions} ended after {_count(self.session_txns, 'transaction')}: "
                f"{reason}. The next session starts now (Flow would wait until the capture's interval, "
                f"{cs.span(capture_interval)}, has passed since this session's Open; preview does not)"
            )

    def observe(self, state: dict[str, Any], patch: Any) -> None:
        """Track the reduced state: which bindings backfill, and when each last checkpointed."""
        self.state = state
        now = time.time()
        touched = patch.get("bindingStateV1") if isinstance(patch, dict) else None
        for i, view in enumerate(self.views):
            binding = cs.binding_state(state, view.state_key)
            if cs.backfill_in_progress(binding):
                self.had_backfill[i] = True
            if isinstance(touched, dict) and view.state_key in touched:
                self.activity[i] = now
                patched = touched[view.state_key]
                if isinstance(patched, dict) and "backfill" in patched:
                    self.had_backfill[i] = True  # begun and done within one transaction

    def transaction(self, counts: list[int], checkpoints: int, state: dict[str, Any], patch: Any) -> None:
        """A committed transaction: `counts` are its documents per binding."""
        self.transactions += 1
        self.session_txns += 1
        self.checkpoints += checkpoints
        per: dict[str, int] = {}
        for view, n in zip(self.views, counts, strict=True):
            per[view.collection] = per.get(view.collection, 0) + n
            self.docs[view.collection] += n
        if sum(counts):
            self.last_docs_at = time.monotonic()
        backfill_before = self._backfill_progress()
        self.observe(state, patch)
        backfill = self._backfill_progress()
        now = time.monotonic()
        if (
            not sum(counts)
            and backfill == backfill_before
            and now - self._last_progress < QUIET_PROGRESS_EVERY
        ):
            return  # a state-only transaction that changes nothing visible: not every one
        self._last_progress = now
        total = sum(self.docs.values())
        elapsed = max(time.monotonic() - self.started, 1e-6)
        detail = ", ".join(f"{c}: {n}" for c, n in per.items() if n)
        self._info(
            f"preview: transaction {self.session_txns} of session {self.sessions}: "
            + _count(sum(counts), "document")
            + (f" ({detail})" if detail else "")
            + f" from {_count(checkpoints, 'checkpoint')}; {_count(total, 'document')} in {elapsed:.1f}s "
            + f"({total / elapsed:.0f}/s)"
            + (f"; backfill: {backfill}" if backfill else ""),
            session=self.sessions,
            transaction=self.session_txns,
            documents=per,
            checkpoints=checkpoints,
            totalDocuments=total,
            docsPerSecond=round(total / elapsed, 1),
        )

    # --- waiting -----------------------------------------------------------------------------
    def begin_wait(self) -> None:
        """The session starts waiting for a ready checkpoint."""
        self._wait_from = time.monotonic()
        self._notices = 0

    def wake_at(self) -> float:
        """When the waiting session should look again: a notice is due, or it may be caught up."""
        at = self._wait_from + WAIT_NOTICE_AFTER + WAIT_NOTICE_EVERY * self._notices
        quiet_since = self._quiet_since()
        if self.until_caught_up and quiet_since is not None and self.backfills_done():
            at = min(at, quiet_since + self.caught_up_idle)
        return at

    def idle(self, deadline: float | None) -> None:
        """Nothing committed for a while: say what preview waits for (when a notice is due)."""
        waited = time.monotonic() - self._wait_from
        if waited < WAIT_NOTICE_AFTER + WAIT_NOTICE_EVERY * self._notices:
            return
        self._notices += 1
        now = time.time()
        ends = ["when the connector exits"]
        if deadline is not None:
            ends.append(f"at --timeout ({cs.clock(now + deadline - time.monotonic())})")
        if self.until_caught_up:
            ends.append("once caught up")
        schedule = [text for text, _ in self._schedule(now)]
        self._info(
            f"preview: waiting for the connector's next checkpoint (none for {cs.span(waited)})"
            + (": " + "; ".join(schedule) if schedule else "")
            + f". The session ends {', '.join(ends)}, or on Ctrl-C"
        )

    def _schedule(self, now: float) -> list[tuple[str, float]]:
        """(text, wall time) of what each binding does next, by the kit's schedule."""
        out: list[tuple[str, float]] = []
        for i, view in enumerate(self.views):
            binding = cs.binding_state(self.state, view.state_key)
            running = cs.backfill_in_progress(binding)
            if running:
                out.append((f"{view.collection} is backfilling ({running})", now))
                continue
            if cs.first_snapshot_pending(view, binding):
                out.append((f"{view.collection} is taking its first snapshot", now))
                continue
            nxt = cs.next_poll(view, binding, self.activity[i], now)
            if nxt is not None:
                kind, when = nxt
                out.append(
                    (
                        f"next {kind} of {view.collection} at ~{cs.clock(when)} (in {cs.span(when - now)}; "
                        f"interval {view.interval_text})",
                        when,
                    )
                )
        return out

    # --- caught up ---------------------------------------------------------------------------
    def backfills_done(self) -> bool:
        """No backfill in progress, and no snapshot binding still to commit its first pass."""
        for view in self.views:
            binding = cs.binding_state(self.state, view.state_key)
            if cs.backfill_in_progress(binding) or cs.first_snapshot_pending(view, binding):
                return False
        return True

    def _resumed_caught_up(self) -> bool:
        """The connector opened on a state that holds every binding, none backfilling."""
        return self.opened_at is not None and all(
            cs.binding_state(self.state, v.state_key) is not None for v in self.views
        )

    def _quiet_since(self) -> float | None:
        """Since when the connector has committed no document (None: caught up cannot start yet:
        nothing committed and no caught-up state resumed)."""
        if self.last_docs_at is not None:
            return self.last_docs_at
        if self.transactions:
            return self.started
        return self.opened_at if self._resumed_caught_up() else None

    def caught_up(self) -> bool:
        """Definition in the module docstring (`--until-caught-up`)."""
        if not self.until_caught_up or not self.backfills_done():
            return False
        if not self.transactions and not self._resumed_caught_up():
            return False
        if self.ended_by == "the connector exited":
            return True
        quiet_since = self._quiet_since()
        return quiet_since is not None and time.monotonic() - quiet_since >= self.caught_up_idle

    def done(self) -> bool:
        """No further session: stopped by a signal, or caught up."""
        return self.stopping.is_set() or self.caught_up()

    def _backfill_progress(self) -> str:
        parts = []
        for i, view in enumerate(self.views):
            running = cs.backfill_in_progress(cs.binding_state(self.state, view.state_key))
            if running:
                parts.append(f"{view.collection} {running}")
            elif self.had_backfill[i]:
                parts.append(f"{view.collection} done")
        return ", ".join(parts)

    # --- the end -----------------------------------------------------------------------------
    def summary(self) -> None:
        total = sum(self.docs.values())
        detail = ", ".join(f"{c}: {n}" for c, n in self.docs.items())
        if self.stopped_by:
            why = f"stopped by {self.stopped_by}"
        elif self.caught_up():
            why = "caught up"
        else:
            why = f"the last session ended: {self.ended_by or 'no reason given'}"
        lines = [
            f"preview summary: {_count(total, 'document')} ({detail}); {_count(self.checkpoints, 'checkpoint')} "
            f"in {_count(self.transactions, 'transaction')}, {_count(self.sessions, 'session')}; "
            f"{time.monotonic() - self.started:.1f}s; {why}"
        ]
        unfinished = []
        for i, view in enumerate(self.views):
            binding = cs.binding_state(self.state, view.state_key)
            lines.append(f"  {view.collection}: {cs.describe(binding, self.had_backfill[i])}")
            if cs.backfill_in_progress(binding):
                unfinished.append(view.collection)
        if unfinished:
            lines.append(
                f"  not caught up: the backfill of {', '.join(unfinished)} is still in progress (run more "
                "sessions, or --until-caught-up, to capture the rest)"
            )
        self._info("\n".join(lines), documents=dict(self.docs), checkpoints=self.checkpoints)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
