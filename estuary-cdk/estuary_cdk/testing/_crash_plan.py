"""Where the crash/resume harness kills a run: after a number of checkpoints, in the middle of a
checkpoint sequence, after some time, or while the writer is blocked on a full pipe.

Positions are relative to the run being killed (each run resumes from what the previous one
committed) and drawn from the uninterrupted baseline's size, so that the kills of one plan are
spread across the whole capture rather than all landing in its first seconds.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

__all__ = ["KILL_KINDS", "KillKind", "KillPoint", "plan_kills"]

KillKind = Literal["checkpoint", "document", "time", "blocked"]

KILL_KINDS: tuple[KillKind, ...] = ("checkpoint", "document", "time", "blocked")
"""* `checkpoint`: right after the run's `at`-th checkpoint (transaction) is read: a boundary.
* `document`: right after its `at`-th document is read, before the checkpoint that would have
  committed it: mid-sequence.
* `time`: `at` seconds after its first output line, wherever the writer is (often mid-line).
* `blocked`: after its `at`-th checkpoint the reader stops, the writer fills the pipe and blocks
  in the middle of a write, then the kill: a line cut short whenever there was more to write."""


@dataclass(frozen=True)
class KillPoint:
    kind: KillKind
    at: float

    def describe(self) -> str:
        if self.kind == "time":
            return f"SIGKILL {self.at:.2f}s after its first line"
        if self.kind == "document":
            return f"SIGKILL after document {int(self.at)}, mid-sequence"
        if self.kind == "blocked":
            return f"SIGKILL while blocked writing, after checkpoint {int(self.at)}"
        return f"SIGKILL right after checkpoint {int(self.at)}"


@dataclass(frozen=True)
class BaselineSize:
    """How much an uninterrupted run did: its transactions, documents and seconds."""

    checkpoints: int
    documents: int
    seconds: float


def plan_kills(
    kills: int, seed: int, baseline: BaselineSize, kinds: Sequence[KillKind] = KILL_KINDS
) -> list[KillPoint]:
    """`kills` kill points, every kind in `kinds` about as often (in a seeded order), each at a
    position drawn uniformly up to twice the baseline's size divided by `kills + 1`: on average
    each run gets through a `kills + 1`-th of the capture before it is killed."""
    if kills < 0:
        raise ValueError("kills must be >= 0")
    unknown = set(kinds) - set(KILL_KINDS)
    if not kinds or unknown:
        raise ValueError(f"kill kinds must be among {KILL_KINDS}, got {list(kinds)}")
    rng = random.Random(seed)
    order = [kinds[i % len(kinds)] for i in range(kills)]
    rng.shuffle(order)
    share = 2.0 / (kills + 1)
    points = []
    for kind in order:
        if kind == "time":
            points.append(KillPoint(kind, rng.uniform(0.05, max(0.1, baseline.seconds * share))))
        elif kind == "document":
            points.append(KillPoint(kind, rng.randint(1, max(1, int(baseline.documents * share)))))
        else:
            points.append(KillPoint(kind, rng.randint(1, max(1, int(baseline.checkpoints * share)))))
    return points
