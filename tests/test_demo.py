"""`make demo` (the quickstart) works offline, ends on its own and shows what it promises."""

from __future__ import annotations

import json
import re

from conftest import make


def test_make_demo_previews_hello_world_and_summarizes() -> None:
    proc = make("demo", timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    docs: dict[str, list[dict]] = {}
    states: list[dict] = []
    for line in proc.stdout.splitlines():
        if not line.startswith("["):
            continue
        name, value = json.loads(line)
        if name == "connectorState":
            states.append(value)
        else:
            docs.setdefault(name, []).append(value)

    # source-hello-world/config.yaml: history 10 (backfill) + new greetings up to count 40.
    greeting_ids = [d["id"] for d in docs["acmeCo/greetings"]]
    assert sorted(greeting_ids) == list(range(1, 41))
    assert len(docs["acmeCo/languages"]) == 8
    # Checkpoints are printed as they commit, and the run ends with the full reduced state.
    assert len([s for s in states if s.get("mergePatch")]) >= 2
    final = states[-1]
    assert "mergePatch" not in final
    assert final["updated"]["bindingStateV1"]["greetings"]["inc"] == {"cursor": 40}

    summary = re.search(r"demo summary: (\d+) documents \((.*?)\); (\d+) checkpoint updates", proc.stdout)
    assert summary, proc.stdout[-2000:]
    assert summary.group(1) == "48"
    assert "acmeCo/greetings: 40" in summary.group(2)
    assert "greetings: cursor 40, backfill done" in proc.stdout
