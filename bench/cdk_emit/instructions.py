"""Per-document CPU instruction counts for `bench/cdk_emit.py --instructions`.

Wall time on a shared 2-core machine moves by ±10 % between runs; instruction counts under
valgrind's callgrind do not (the same figure twice, whatever else the machine does). Each
measurement runs a program at two document counts and divides the difference of its totals by
the difference of the counts, so interpreter start-up and imports cancel out and what is left
is the cost of one more document: for the raw loop, building and writing it; for a kit, building,
passing it through the capture path and writing it.
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


@dataclass
class Count:
    label: str
    per_document: float
    startup: int


def available() -> bool:
    return shutil.which("valgrind") is not None


def _total(argv: list[str], env: dict[str, str], stdin: bytes | None) -> int:
    proc = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *argv],
        input=stdin if stdin is not None else b"",
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
        check=False,
    )
    found = _COLLECTED.findall(proc.stderr)
    if proc.returncode != 0 or not found:
        tail = proc.stderr.decode(errors="replace").strip().splitlines()[-3:]
        raise RuntimeError(f"callgrind run of {argv[-1]} failed ({proc.returncode}): {' | '.join(tail)}")
    return int(found[-1])


def measure(label: str, command: Command, low: int, high: int) -> Count:
    at_low = _total(*command(low))
    at_high = _total(*command(high))
    return Count(label, (at_high - at_low) / (high - low), at_low)


def report(counts: dict[str, Count]) -> None:
    print("instructions per document (callgrind; start-up excluded, repeatable to the instruction):")
    for count in counts.values():
        print(f"  {count.label:<28} {count.per_document:>9,.0f}")
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
