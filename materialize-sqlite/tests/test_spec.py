"""The connector's spec, as flowctl and the `connector` script show it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from conftest import Workspace


def test_spec_snapshot_and_the_connector_script_agree(ws: Workspace, snapshot: Any) -> None:
    run = ws.flowctl("raw", "spec", "--source", str(ws.catalog), "--materialization", "tests/to-sqlite")
    spec = json.loads(run.stdout)
    assert snapshot("spec.txt") == json.dumps(spec, indent=2, sort_keys=True) + "\n"
    script = Path(sys.executable).parent / "connector"
    direct = subprocess.run([str(script), "spec"], capture_output=True, text=True, check=True)
    assert json.loads(direct.stdout)["spec"]["configSchema"] == spec["configSchema"]
    refused = subprocess.run([str(script), "validate"], capture_output=True, text=True)
    assert refused.returncode != 0 and "flowctl raw validate|apply" in refused.stderr
