"""Pass `flowctl preview` output through unchanged and close it with a short summary.

Used by `make demo`: every line (documents `["<collection>", {...}]` and checkpoints
`["connectorState", {...}]`) is echoed as it arrives; at the end it prints how many documents
each collection received, how many checkpoints were committed and the final cursor of each
binding. Exits non-zero when no document arrived, so a broken demo cannot look like a good one.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from typing import Any


def _merge(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """RFC 7396 merge patch (enough for the summary's view of the state)."""
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = value
    return target


def main() -> int:
    started = time.monotonic()
    docs: Counter[str] = Counter()
    checkpoints = 0
    state: dict[str, Any] = {}
    for line in sys.stdin:
        sys.stdout.write(line)
        sys.stdout.flush()
        try:
            name, value = json.loads(line)
        except (ValueError, TypeError):
            continue  # a log or other non-document line: echoed only
        if name == "connectorState":
            if isinstance(value, dict) and "updated" in value:
                checkpoints += 1
                if value.get("mergePatch", False):
                    _merge(state, value["updated"])
                else:
                    state = value["updated"]
        else:
            docs[name] += 1

    elapsed = time.monotonic() - started
    total = sum(docs.values())
    print("-" * 72)
    per_collection = ", ".join(f"{name}: {count}" for name, count in sorted(docs.items())) or "none"
    print(
        f"demo summary: {total} documents ({per_collection}); {checkpoints} checkpoint updates; {elapsed:.1f}s"
    )
    for key, binding in sorted((state.get("bindingStateV1") or {}).items()):
        if not isinstance(binding, dict):
            continue
        parts = []
        if isinstance(binding.get("inc"), dict):
            parts.append(f"cursor {binding['inc'].get('cursor')}")
        if binding.get("backfill"):
            parts.append(f"backfill at {binding['backfill']}")
        elif "inc" in binding:
            parts.append("backfill done")
        if isinstance(binding.get("snapshot"), dict):
            parts.append(f"snapshot of {binding['snapshot'].get('last_count')} rows")
        print(f"  {key}: {', '.join(parts)}")
    if total == 0:
        print("demo summary: no documents were captured", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
