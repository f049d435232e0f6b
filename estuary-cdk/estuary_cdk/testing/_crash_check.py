"""What the crash/resume harness asserts of a sequence of killed and resumed runs, against an
uninterrupted run of the same capture:

* the union of committed documents has the baseline's keys (by collection key), none missing
  (`lost`) and none extra (`unexpected`); with `compare="documents"` each key's last document
  is the baseline's too (`changed`);
* nothing committed is lost: every run resumed from the state of the last transaction the
  previous one committed, and that state's documents stay in the union;
* cursors never go backwards: no `cursor` in the committed states moves below its previous
  value (integers, numbers, RFC 3339 times), across restarts included;
* duplicates come only from the uncommitted tail: a document committed by one run is never
  committed again, identical, by a later one (`redelivered`, unless `allow_redelivery` says the
  connector re-sends it on purpose); re-sending what a killed run had not committed is expected
  (`redone`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from ..capture._engine.tombstones import MISSING, resolve_pointer
from ._crash_runs import Doc, RunRecord

__all__ = ["CrashReport", "check_runs"]

Key = tuple[str, str]
"""(collection, the document's key as JSON)."""

AllowRedelivery = Callable[[str, dict[str, Any]], bool]


def _pointer(doc: Any, pointer: str) -> Any:
    value = resolve_pointer(doc, pointer)
    return None if value is MISSING else value


def _content(doc: dict[str, Any]) -> bytes:
    """The document without what differs between identical documents (flowctl's `_meta.uuid`)."""
    meta = doc.get("_meta")
    if isinstance(meta, dict) and "uuid" in meta:
        doc = {**doc, "_meta": {k: v for k, v in meta.items() if k != "uuid"}}
    return orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)


def _cursors(state: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(state, dict):
        for key, value in state.items():
            at = f"{path}/{key}"
            if key == "cursor" and not isinstance(value, dict | list):
                yield at, value
            else:
                yield from _cursors(value, at)


def _comparable(value: Any) -> Any:
    """A cursor as something ordered: numbers as they are, RFC 3339 strings as times; None for
    anything else (an opaque token has no order the harness may assume)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo is not None else None
    return None


@dataclass
class CrashReport:
    """The outcome of `crash_resume`: `check()` raises with a readable summary unless `ok`."""

    target: str
    baseline: RunRecord
    runs: list[RunRecord]
    lost: list[Key] = field(default_factory=list)
    unexpected: list[Key] = field(default_factory=list)
    changed: list[Key] = field(default_factory=list)
    redelivered: list[Key] = field(default_factory=list)
    redone: int = 0
    cursor_regressions: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    union_keys: int = 0
    baseline_keys: int = 0

    @property
    def kills(self) -> int:
        return sum(1 for r in self.runs if r.killed)

    @property
    def kills_by_kind(self) -> Counter[str]:
        return Counter(r.kill.kind for r in self.runs if r.killed and r.kill is not None)

    @property
    def kills_survived(self) -> int:
        """Kills after which the capture resumed and, in the end, lost nothing."""
        return 0 if self.lost else self.kills

    @property
    def committed_documents(self) -> int:
        return sum(r.committed_documents for r in self.runs)

    @property
    def cut_lines(self) -> int:
        """Runs whose output ended in the middle of a line (the kill came mid-write)."""
        return sum(1 for r in self.runs if r.cut_line)

    @property
    def ok(self) -> bool:
        return not (
            self.lost
            or self.unexpected
            or self.changed
            or self.redelivered
            or self.cursor_regressions
            or self.problems
        )

    def summary(self) -> str:
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(self.kills_by_kind.items())) or "none"
        lines = [
            f"crash/resume ({self.target}): {self.kills} kills ({kinds}) over {len(self.runs)} runs, "
            f"{self.kills_survived} survived; {len(self.lost)} documents lost",
            f"  union of committed documents: {self.union_keys} keys (uninterrupted run: {self.baseline_keys}); "
            f"{self.committed_documents} documents committed, {self.redone} re-sent from uncommitted tails, "
            f"{self.cut_lines} runs cut mid-line",
        ]
        for label, items in (
            ("lost (in the uninterrupted run, never committed)", self.lost),
            ("unexpected (committed, not in the uninterrupted run)", self.unexpected),
            ("changed (last document differs from the uninterrupted run's)", self.changed),
            ("redelivered (committed again by a later run)", self.redelivered),
        ):
            if items:
                shown = ", ".join(f"{c} {k}" for c, k in items[:10])
                lines.append(f"  {len(items)} {label}: {shown}{' …' if len(items) > 10 else ''}")
        lines += [f"  cursor went backwards: {r}" for r in self.cursor_regressions[:10]]
        lines += [f"  problem: {p}" for p in self.problems]
        for run in self.runs:
            what = run.kill.describe() if run.killed and run.kill else run.ended
            lines.append(
                f"  run {run.number}: {len(run.committed)} transactions committed "
                f"({run.committed_documents} documents), tail {len(run.tail)}; {what}"
            )
        return "\n".join(lines)

    def check(self) -> None:
        """Raise AssertionError with the summary unless every invariant held."""
        if not self.ok:
            raise AssertionError(self.summary())


class _Keys:
    def __init__(self, collection_keys: dict[str, list[str]]) -> None:
        self.collection_keys = collection_keys

    def of(self, doc: Doc) -> Key:
        collection, body = doc
        pointers = self.collection_keys.get(collection, [])
        return collection, orjson.dumps([_pointer(body, p) for p in pointers]).decode()


def _union(runs: list[RunRecord], keys: _Keys) -> dict[Key, bytes]:
    last: dict[Key, bytes] = {}
    for run in runs:
        for txn in run.committed:
            for doc in txn.documents:
                last[keys.of(doc)] = _content(doc[1])
    return last


def check_runs(
    target: str,
    baseline: RunRecord,
    runs: list[RunRecord],
    collection_keys: dict[str, list[str]],
    compare: str = "keys",
    allow_redelivery: AllowRedelivery | None = None,
) -> CrashReport:
    keys = _Keys(collection_keys)
    report = CrashReport(target, baseline, runs)
    expected, got = _union([baseline], keys), _union(runs, keys)
    report.baseline_keys, report.union_keys = len(expected), len(got)
    report.lost = sorted(expected.keys() - got.keys())
    report.unexpected = sorted(got.keys() - expected.keys())
    if compare == "documents":
        report.changed = sorted(k for k in expected.keys() & got.keys() if expected[k] != got[k])
    elif compare != "keys":
        raise ValueError(f"compare must be 'keys' or 'documents', not {compare!r}")
    _check_duplicates(report, runs, keys, allow_redelivery)
    _check_states(report, runs)
    report.problems += [p for r in [baseline, *runs] for p in r.problems]
    return report


def _check_duplicates(
    report: CrashReport, runs: list[RunRecord], keys: _Keys, allow: AllowRedelivery | None
) -> None:
    committed_by: dict[tuple[Key, bytes], int] = {}
    tails: set[tuple[Key, bytes]] = set()
    redelivered: set[Key] = set()
    for run in runs:
        for txn in run.committed:
            for doc in txn.documents:
                ident = (keys.of(doc), _content(doc[1]))
                first = committed_by.setdefault(ident, run.number)
                if first != run.number and not (allow is not None and allow(*doc)):
                    redelivered.add(ident[0])
                if ident in tails:
                    report.redone += 1
                    tails.discard(ident)
        tails.update((keys.of(doc), _content(doc[1])) for doc in run.tail)
    report.redelivered = sorted(redelivered)


def _check_states(report: CrashReport, runs: list[RunRecord]) -> None:
    previous_end: dict[str, Any] | None = None
    seen: dict[str, Any] = {}
    for run in runs:
        if previous_end is not None and run.start_state != previous_end:
            report.problems.append(f"run {run.number} did not start from the state its predecessor committed")
        states = [run.start_state, *(t.state for t in run.committed)]
        for index, state in enumerate(states):
            for path, value in _cursors(state):
                now, before = _comparable(value), _comparable(seen.get(path))
                if now is not None and before is not None and type(now) is type(before) and now < before:
                    where = "at its start" if index == 0 else f"in transaction {index}"
                    report.cursor_regressions.append(
                        f"run {run.number} {where}: {path} {seen[path]!r} -> {value!r}"
                    )
                seen[path] = value
        previous_end = run.end_state
