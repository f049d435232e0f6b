"""Per-document CPU instruction counts for `bench/cdk_emit.py --instructions`.

Wall time on a shared 2-core machine moves by ±10 % between runs; instruction counts under
valgrind's callgrind do not, given the same program state. Each measurement runs a program at
two document counts and divides the difference of its totals by the difference of the counts, so
interpreter start-up and imports cancel out and what is left is the cost of one more document:
for the raw loop, building and writing it; for a kit, building, passing it through the capture
path and writing it.

That subtraction is only sound if the two runs differ in nothing but the count, and two things
made them differ:

* Bytecode compilation. The runs write .pyc files to the benchmark's own cache
  (PYTHONPYCACHEPREFIX, which takes the standard library's modules too), so on a fresh machine
  the first run of each program compiles everything it imports (about 1.2 billion instructions
  for the raw loop alone) and the later ones do not: the low count paid for it, the high count
  did not, and per-document figures came out negative (raw loop -38,338, ours dict -121,953).
  Every program now runs once, uncounted, before it is measured.
* Hash randomization: string hashes, and so dict and set layouts, change from run to run
  (thousands of instructions either way). Every run has PYTHONHASHSEED=0.

With both, the raw loop gives the same total to the instruction. A kit's connector does not quite:
its output writer thread and the GIL hand over on wall-clock timers, so two runs differ by up to
a few million instructions (about 1% of what 20,000 documents cost). So a figure is printed only
with its uncertainty and only if it can be trusted: the low count is run a second time, the
difference of the two runs per extra document is the uncertainty, and it must be within
`TOLERANCE` of the figure, which must be positive; otherwise the measurement is reported as
untrusted, with why, and `cdk_emit.py --instructions` exits 1.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass

_COLLECTED = re.compile(rb"Collected\s*:\s*(\d+)")

Command = Callable[[int], tuple[list[str], dict[str, str], bytes | None]]
"""For a document count: the argv, environment and stdin of one run."""

TOLERANCE = 0.01
"""The largest uncertainty (two runs at the same count, per extra document) a figure may have, as
a fraction of the figure."""


@dataclass
class Count:
    label: str
    per_document: float
    startup: int
    uncertainty: float
    """How far a second run at the low count was from the first, per extra document."""
    problem: str | None = None
    """Why the figure cannot be trusted (None: it can)."""


def available() -> bool:
    return shutil.which("valgrind") is not None


def _total(argv: list[str], env: dict[str, str], stdin: bytes | None) -> int:
    proc = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *argv],
        input=stdin if stdin is not None else b"",
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**env, "PYTHONHASHSEED": "0"},
        check=False,
    )
    found = _COLLECTED.findall(proc.stderr)
    if proc.returncode != 0 or not found:
        tail = proc.stderr.decode(errors="replace").strip().splitlines()[-3:]
        raise RuntimeError(f"callgrind run of {argv[-1]} failed ({proc.returncode}): {' | '.join(tail)}")
    return int(found[-1])


def measure(label: str, command: Command, low: int, high: int) -> Count:
    _total(*command(low))  # Uncounted: compiles and caches the bytecode of all it imports.
    at_low = _total(*command(low))
    at_high = _total(*command(high))
    again = _total(*command(low))
    extra = at_high - at_low
    count = Count(label, extra / (high - low), at_low, abs(again - at_low) / (high - low))
    if extra <= 0:
        count.problem = f"{high:,} documents took {-extra:,} fewer instructions than {low:,}"
    elif count.uncertainty > TOLERANCE * count.per_document:
        count.problem = (
            f"two runs of {low:,} documents differ by {abs(again - at_low):,} instructions, "
            f"{count.uncertainty:,.0f} per document: more than {TOLERANCE:.0%} of {count.per_document:,.0f}"
        )
    return count


def report(counts: dict[str, Count]) -> bool:
    """Print the trusted figures and their ratios, and why any other is not; False if any is not."""
    print("instructions per document (callgrind; start-up excluded; ± how far a repeated run moved it,")
    print(f"at most {TOLERANCE:.0%} of the figure to be shown):")
    for count in counts.values():
        if count.problem is None:
            print(f"  {count.label:<28} {count.per_document:>9,.0f} ± {count.uncertainty:,.0f}")
        else:
            print(f"  {count.label:<28} {'UNTRUSTED':>9}   {count.problem}")
    trusted = all(count.problem is None for count in counts.values())
    counts = {key: count for key, count in counts.items() if count.problem is None}
    raw = counts.get("raw")
    for kind in ("dict", "model"):
        ours, ref = counts.get(f"ours-{kind}"), counts.get(f"ref-{kind}")
        if ours and ref:
            print(
                f"  {kind:<5} documents: reference / ours = {ref.per_document / ours.per_document:4.2f}x fewer instructions"
            )
    ref_dict = counts.get("ref-dict")
    if raw and ref_dict:
        print(
            f"  reference dict / raw orjson loop = {ref_dict.per_document / raw.per_document:4.2f}x: a kit doing no work at "
            "all beyond the raw loop's (build, serialize, write) would reach this ratio and no more"
        )
    base = {kind: (counts.get(f"ours-{kind}"), counts.get(f"base-{kind}")) for kind in ("dict", "model")}
    for kind, (ours, before) in base.items():
        if ours and before:
            print(
                f"  {kind:<5} documents: this tree / baseline = {ours.per_document / before.per_document:6.1%} of the "
                "baseline's instructions"
            )
    return trusted
