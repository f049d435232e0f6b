"""What the local pipeline reports: a progress line per transaction on stderr and a summary at
the end (documents captured per collection, rows stored per binding, elapsed time)."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import TextIO


@dataclass
class RunStats:
    started: float = field(default_factory=time.monotonic)
    captured: dict[str, int] = field(default_factory=dict)  # collection → documents
    capture_sessions: int = 0
    # materialization → binding resource path (joined) → rows stored
    stored: dict[str, dict[str, int]] = field(default_factory=dict)
    materialize_txns: dict[str, int] = field(default_factory=dict)
    stopped_by: str = ""

    def summary(self) -> list[str]:
        elapsed = time.monotonic() - self.started
        total = sum(self.captured.values())
        per = ", ".join(f"{c}: {n}" for c, n in sorted(self.captured.items()))
        lines = [
            f"run summary: {total} documents captured" + (f" ({per})" if per else "") + f"; {elapsed:.1f}s"
        ]
        for task, bindings in sorted(self.stored.items()):
            rows = sum(bindings.values())
            detail = ", ".join(f"{b}: {n}" for b, n in sorted(bindings.items()))
            txns = self.materialize_txns.get(task, 0)
            lines.append(
                f"  {task}: {rows} rows stored in {txns} transactions" + (f" ({detail})" if detail else "")
            )
        if self.stopped_by:
            lines.append(f"  stopped by {self.stopped_by}")
        return lines


class Progress:
    """Progress lines on stderr, one per transaction."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr

    def _line(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()

    def applied(self, task: str, description: str) -> None:
        self._line(f"{task}: applied: {description.strip()}")

    def capture_txn(self, task: str, txn: int, counts: dict[str, int]) -> None:
        per = ", ".join(f"{c}: {n}" for c, n in sorted(counts.items()) if n)
        self._line(
            f"{task}: capture transaction {txn}: {sum(counts.values())} documents"
            + (f" ({per})" if per else "")
        )

    def materialize_txn(self, task: str, txn: int, read: int, stored: dict[str, int], loaded: int) -> None:
        per = ", ".join(f"{b}: {n}" for b, n in sorted(stored.items()) if n)
        self._line(
            f"{task}: materialize transaction {txn}: {read} documents read, {loaded} loaded, "
            f"{sum(stored.values())} stored" + (f" ({per})" if per else "")
        )

    def note(self, text: str) -> None:
        self._line(text)
