"""Capture sessions of the connector as `flowctl preview` runs them, stopped when a test says.

flowctl (a dev dependency) builds the capture from a catalog written for the session, starts the
connector process, reads its checkpoint sequences, combines and validates the documents against
the collections' schemas, reduces the state and commits transactions; this module only records
what each transaction committed and stops the session once `stop_when` holds. Restarting is
opening the next session with `Session.state`, as the runtime does after a shard stops. There is
no protocol reader or merge patch here: those are flowctl's.

Committed documents are those of whole transactions, combined by collection key within each one
(as the runtime commits them), so a test sees what a materialization would, less the placeholder
`_meta.uuid` flowctl gives every document.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from flowctl.build import build_capture
from flowctl.catalog import load_catalog
from flowctl.connector import launch_for
from flowctl.logs import OpsLog
from flowctl.preview import compile_bindings
from flowctl.preview import run_session as run_flowctl_session
from flowctl.session import PreviewOptions
from source_hackernews.models import STORY_LISTS

CONNECTOR_DIR = Path(__file__).resolve().parent.parent
CAPTURE = "acmeCo/source-hackernews"
ALL_BINDINGS = ("items", "users", "updates", *STORY_LISTS)


@dataclass
class Session:
    """What one connector session committed."""

    committed: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    """(binding name, document) of every committed transaction (empty with keep_documents=False)."""
    committed_count: int = 0
    transactions: int = 0
    state: dict[str, Any] = field(default_factory=dict)
    """The reduced state after the last transaction, to open the next session with."""
    logs: list[OpsLog] = field(default_factory=list)


StopWhen = Callable[[Session], bool]


class _Stop(Exception):
    """`stop_when` held after a transaction: end the session like a shard being stopped."""


class _RecordingSink:
    """flowctl's transaction sink: records each commit, then asks `stop_when`."""

    def __init__(
        self,
        session: Session,
        stop_when: StopWhen,
        keep_documents: bool,
        on_commit: Callable[[Session], Any] | None,
    ) -> None:
        self.session = session
        self.stop_when = stop_when
        self.keep_documents = keep_documents
        self.on_commit = on_commit

    async def commit(
        self, docs: list[tuple[str, list[dict[str, Any]]]], state: dict[str, Any], patch: Any, merge: bool
    ) -> None:
        session = self.session
        for collection, binding_docs in docs:
            session.committed_count += len(binding_docs)
            if self.keep_documents:
                name = collection.removeprefix("acmeCo/")
                session.committed.extend((name, _without_uuid(doc)) for doc in binding_docs)
        session.transactions += 1
        session.state = state
        if self.on_commit is not None:
            self.on_commit(session)
        if self.stop_when(session):
            raise _Stop


def _without_uuid(doc: dict[str, Any]) -> dict[str, Any]:
    """`doc` as the connector wrote it: without the `_meta.uuid` placeholder flowctl adds (and
    without `_meta` when that was all of it)."""
    meta = doc.get("_meta")
    if isinstance(meta, dict):
        meta.pop("uuid", None)
        if not meta:
            del doc["_meta"]
    return doc


def _catalog(
    directory: Path, config: dict[str, Any], bindings: Sequence[str], intervals: dict[str, str] | None
) -> Path:
    """A catalog of the capture with `bindings` (resource names, with ISO-8601 `intervals`)
    into the committed collections of acmeCo/flow.yaml, run from this Python."""
    resources = [
        {
            "resource": {
                "name": name,
                **({"interval": intervals[name]} if intervals and name in intervals else {}),
            }
        }
        | {"target": f"acmeCo/{name}"}
        for name in bindings
    ]
    catalog = {
        "import": [(CONNECTOR_DIR / "acmeCo" / "flow.yaml").as_uri()],
        "captures": {
            CAPTURE: {
                "endpoint": {
                    "local": {"command": [sys.executable, "-m", "source_hackernews"], "config": config}
                },
                "bindings": resources,
            }
        },
    }
    path = directory / "flow.yaml"
    path.write_text(yaml.safe_dump(catalog, sort_keys=False))
    return path


async def run_session(
    config: dict[str, Any],
    state: dict[str, Any],
    stop_when: StopWhen,
    *,
    bindings: Sequence[str] = ALL_BINDINGS,
    intervals: dict[str, str] | None = None,
    max_seconds: float = 60.0,
    keep_documents: bool = True,
    on_commit: Callable[[Session], Any] | None = None,
) -> Session:
    """Open the capture with `state` and commit transactions until `stop_when(session)` holds
    after one (or the connector exits); raises TimeoutError after `max_seconds`."""
    session = Session(state=state)
    with tempfile.TemporaryDirectory(prefix="hn-session-") as tmp:
        catalog = load_catalog(_catalog(Path(tmp), config, bindings, intervals))
        capture = catalog.capture(CAPTURE)
        launch = await launch_for(capture)
        built = await build_capture(catalog, capture, launch, session.logs.append)
        sink = _RecordingSink(session, stop_when, keep_documents, on_commit)
        try:
            await asyncio.wait_for(
                run_flowctl_session(
                    launch,
                    built,
                    compile_bindings(built),
                    PreviewOptions(),
                    None,
                    state,
                    -1,
                    session.logs.append,
                    sink=sink,
                ),
                max_seconds,
            )
        except _Stop:
            pass
    return session
