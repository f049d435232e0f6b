"""Each CRM binding's `sourcedSchema` at open (hubspot.md §2.2; estuary-cdk.md §5.5): the
account's properties as they are when the capture opens, committed by a checkpoint before the
binding's first document, so inference does not squash an account's 1,000+ properties. Read
from the connector process itself (flowctl builds the Open request, as `flowctl preview` sends
it; preview checks these messages but does not print them)."""

from __future__ import annotations

import queue
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import orjson
from estuary_cdk.testing import LocalServer
from estuary_cdk.testing.crash_resume import ConnectorTarget
from fake_hubspot import FakeHubSpot
from fake_hubspot.properties import PropertyDef
from flow import catalog_for

BINDINGS = ["contacts", "deals", "custom_cars", "owners"]
CRM = {"contacts": "contacts", "deals": "deals", "custom_cars": "p_cars"}  # binding -> store type


def opened_lines(target: ConnectorTarget, checkpoints: int, timeout: float = 60) -> list[dict[str, Any]]:
    """The connector's output after an Open with an empty state, up to its `checkpoints`-th
    checkpoint (then it is killed)."""
    request = {
        "open": {
            "capture": target.capture_spec,
            "version": target.version,
            "range": {"keyEnd": 4294967295, "rClockEnd": 4294967295},
            "state": {},
        }
    }
    proc = subprocess.Popen(
        target.argv,
        cwd=target.cwd,
        env=target.env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(orjson.dumps(request) + b"\n")
    proc.stdin.flush()
    lines: queue.Queue[bytes] = queue.Queue()
    stdout = proc.stdout

    def read() -> None:
        for line in stdout:
            lines.put(line)

    threading.Thread(target=read, daemon=True).start()
    out: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    try:
        while sum("checkpoint" in m for m in out) < checkpoints:
            out.append(orjson.loads(lines.get(timeout=max(0.0, deadline - time.monotonic()))))
    finally:
        proc.kill()
        proc.wait()
    return out


def sourced(lines: list[dict[str, Any]], bindings: list[str]) -> dict[str, dict[str, Any]]:
    return {
        bindings[m["sourcedSchema"]["binding"]]: m["sourcedSchema"] for m in lines if "sourcedSchema" in m
    }


def test_each_crm_binding_sources_its_properties_at_open(
    served: tuple[FakeHubSpot, LocalServer], tmp_path: Path
) -> None:
    fake, running = served
    target = ConnectorTarget.from_catalog(catalog_for(running, tmp_path, bindings=BINDINGS))
    names = [b.rsplit("/", 1)[-1] for b in target.bindings]
    out = opened_lines(target, checkpoints=len(CRM) + 6)
    schemas = sourced(out, names)
    assert set(schemas) == set(CRM)  # the CRM bindings, not the owners' snapshot
    for binding, store_name in CRM.items():
        props = fake.crm.types[store_name].props
        schema = schemas[binding]["schema_json"]
        # Closed and tightened as the kit does for the runtime's union with inferred schemas.
        assert schema["type"] == "object" and schema["additionalProperties"] is False
        assert "_meta" in schema["properties"]
        spelt = schema["properties"]["properties"]
        assert spelt["additionalProperties"] is False
        assert list(spelt["properties"]) == [p.name for p in props]  # every one, calculated too
        for prop in props:
            declared = spelt["properties"][prop.name]
            assert declared["type"] == ["string", "null"]  # HubSpot sends every value as a string
            assert declared.get("format") == ("number" if prop.type == "number" else None)
        # Committed by a checkpoint before the binding's first document.
        index = names.index(binding)
        at = next(i for i, m in enumerate(out) if m.get("sourcedSchema", {}).get("binding") == index)
        first_doc = next(
            (i for i, m in enumerate(out) if m.get("captured", {}).get("binding") == index), len(out)
        )
        assert any("checkpoint" in m for m in out[at:first_doc])
    assert any(p.type == "number" for p in fake.crm.types["contacts"].props)
    assert any(p.calculated for p in fake.crm.types["contacts"].props)


def test_the_sourced_schema_follows_the_accounts_properties_from_one_open_to_the_next(
    served: tuple[FakeHubSpot, LocalServer], tmp_path: Path
) -> None:
    fake, running = served
    target = ConnectorTarget.from_catalog(catalog_for(running, tmp_path, bindings=["deals"]))
    before = sourced(opened_lines(target, checkpoints=2), ["deals"])["deals"]["schema_json"]
    deals = fake.crm.types["deals"]
    added = PropertyDef("deal_score_custom", "number", len(deals.props), custom=True)
    deals.props = [*deals.props, added]
    deals.by_name[added.name] = added
    after = sourced(opened_lines(target, checkpoints=2), ["deals"])["deals"]["schema_json"]
    assert added.name not in before["properties"]["properties"]["properties"]
    assert after["properties"]["properties"]["properties"][added.name]["format"] == "number"
    assert set(after["properties"]["properties"]["properties"]) - set(
        before["properties"]["properties"]["properties"]
    ) == {added.name}
