"""`flowctl preview` for captures: build, then sessions of Apply + Open, reading checkpoint
sequences and committing transactions the way the runtime does (flow-protocol §2.3, §5.2, §7.6).

What a transaction is here (this is what `--sessions N` counts):
  the runtime polls for ready checkpoints; a transaction folds in *every* checkpoint sequence
  that is complete (its `checkpoint` was read) at the moment of the poll, and at least one.
  With `--delay D` the runtime sleeps D before each poll, so more sequences complete and fold
  into one transaction (and more documents combine). The reader stops taking new sequences once
  ~8 MiB of document JSON is waiting, which bounds memory by the transaction size. Documents of an
  incomplete sequence are never part of a transaction.

While it runs, preview_watch.py reports on stderr (progress, waits, the summary) and decides
when `--until-caught-up` is satisfied. SIGINT/SIGTERM/SIGHUP end the run gracefully: the session
in progress stops without committing more, then the final state line (--output-state) and the
summary are printed, and the exit status is 0; a second signal kills the connector at once and
interrupts (lifetime.py)."""

from __future__ import annotations

import copy
import gc
from collections.abc import Callable
from typing import Any

from . import lifetime
from .build import FULL_RANGE, BuiltCapture, build_capture
from .capture_state import binding_views
from .catalog import Capture, Catalog
from .connector import ConnectorProcess, Launch, launch_for, spec_handshake, unary
from .logs import OpsLog
from .output import Output, applied_line, state_line
from .preview_watch import PreviewWatch
from .session import Compiled, PreviewOptions, Session, Sink

__all__ = ["PreviewOptions", "run_preview"]


def compile_bindings(built: BuiltCapture) -> list[Compiled]:
    return [Compiled.of(b.collection) for b in built.bindings]


async def run_preview(
    catalog: Catalog,
    capture: Capture,
    options: PreviewOptions,
    on_log: Callable[[OpsLog], None],
    output: Output | None = None,
) -> dict[str, Any]:
    """Run the preview; returns the final reduced connector state."""
    out = output or Output()
    # Documents are acyclic (parsed JSON), so reference counting frees them; the cyclic collector
    # would only rescan the hundreds of thousands of live documents of a transaction, over and
    # over (a large slowdown with big transactions).
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        return await _run_preview(catalog, capture, options, on_log, out)
    finally:
        await out.close()
        if gc_was_enabled:
            gc.enable()


async def _run_preview(
    catalog: Catalog,
    capture: Capture,
    options: PreviewOptions,
    on_log: Callable[[OpsLog], None],
    out: Output,
) -> dict[str, Any]:
    launch = await launch_for(capture, options.network)
    built = await build_capture(catalog, capture, launch, on_log)
    compiled = compile_bindings(built)
    watch = PreviewWatch(
        binding_views(built), on_log, options.until_caught_up, options.caught_up_idle, options.timeout
    )
    state = copy.deepcopy(options.initial_state)
    if options.state_file is not None:
        options.state_file.write(state)  # from the start, the file holds what a resume needs
    with lifetime.graceful_stop(watch.stop):
        for number, target in enumerate(options.sessions, start=1):
            if watch.done():
                break
            apply = {"apply": {"capture": built.capture_spec, "version": built.version}}
            await apply_session(launch, apply, on_log, out if options.output_apply else None)
            watch.session_opened(number, state)
            state = await run_session(
                launch, built, compiled, options, out, state, target, on_log, watch=watch
            )
            watch.session_ended(watch.ended_by, number < len(options.sessions), capture.interval_seconds)
    if options.output_state:
        await out.write([state_line(state, False)])
    watch.summary()
    return state


async def apply_session(
    launch: Launch, request: dict[str, Any], on_log: Callable[[OpsLog], None], out: Output | None
) -> None:
    """The Apply RPC that precedes each session; its action description goes to `out` (the
    `["applied.actionDescription", ...]` line of --output-apply) unless `out` is None."""
    _, applied = await unary(launch, request, "applied", on_log)
    if out is not None:
        raw_body = applied.get("applied")
        body: dict[str, Any] = raw_body if isinstance(raw_body, dict) else {}
        await out.write([applied_line(str(body.get("actionDescription", "")))])


async def run_session(
    launch: Launch,
    built: BuiltCapture,
    compiled: list[Compiled],
    options: PreviewOptions,
    output: Output | None,
    state: dict[str, Any],
    target: int,
    on_log: Callable[[OpsLog], None],
    sink: Sink | None = None,
    watch: PreviewWatch | None = None,
) -> dict[str, Any]:
    """One capture session (Open with `state`, then `target` transactions or until the
    connector exits); returns the reduced state. Transactions go to `sink`, else to `output`."""
    proc = await ConnectorProcess.start(launch, on_log)
    try:
        await spec_handshake(proc, launch)
        await proc.send(
            {
                "open": {
                    "capture": built.capture_spec,
                    "version": built.version,
                    "range": FULL_RANGE,
                    "state": state,
                }
            }
        )
    except BaseException:
        await proc.stop()
        raise
    session = Session(proc, compiled, options, output, sink, watch)
    state = await session.run(target, state)
    if watch is not None:
        watch.ended_by = session.end_reason
    return state
