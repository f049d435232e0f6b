"""Running the connector through `flowctl` against a fake HubSpot served from a thread: a copy
of test.flow.yaml whose config points at the fake, and the documents of a preview."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml
from estuary_cdk.testing import LocalServer, serve_app_in_thread
from fake_hubspot import CLIENT_ID, CLIENT_SECRET, PRIVATE_APP_TOKEN, REFRESH_TOKEN, FakeHubSpot, make_app

CONNECTOR_DIR = Path(__file__).resolve().parent.parent
PRIVATE_APP = {"credentials_title": "Private App Credentials", "access_token": PRIVATE_APP_TOKEN}
OAUTH = {
    "credentials_title": "OAuth Credentials",
    "client_id": CLIENT_ID,
    "client_secret": CLIENT_SECRET,
    "refresh_token": REFRESH_TOKEN,
}


@contextmanager
def serving(fake: FakeHubSpot) -> Iterator[LocalServer]:
    """`fake` on 127.0.0.1 (a random port), its control API wired to the server's fault plan
    and request log."""
    holder: dict[str, LocalServer] = {}

    def factory() -> Any:
        server = holder.get("server")
        return make_app(fake, server.faults if server else None, server.requests if server else None)

    with serve_app_in_thread(factory) as server:
        holder["server"] = server
        yield server


def flowctl(
    *args: str, ok: bool = True, cwd: Path = CONNECTOR_DIR, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    # The test's own virtualenv first: its flowctl, and the python the catalog's connector runs on.
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    proc = subprocess.run(
        ["flowctl", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env
    )
    if ok:
        assert proc.returncode == 0, (
            f"flowctl {' '.join(args)} exited {proc.returncode}:\n{proc.stderr[-3000:]}"
        )
    return proc


def lines(stdout: str) -> list[Any]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def catalog_for(
    server: LocalServer,
    tmp_path: Path,
    credentials: dict[str, Any] | None = None,
    bindings: list[str] | None = None,
    interval: str | None = None,
    **config: Any,
) -> Path:
    """test.flow.yaml and its collections in `tmp_path`, with a config that points at `server`
    (`config` adds or replaces keys, `advanced` merged), only `bindings` if given, each polled
    every `interval` if given."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    catalog = yaml.safe_load((CONNECTOR_DIR / "test.flow.yaml").read_text())
    capture = next(iter(catalog["captures"].values()))
    if bindings is not None:
        capture["bindings"] = [b for b in capture["bindings"] if b["resource"]["name"] in bindings]
    if interval is not None:
        for binding in capture["bindings"]:
            binding["resource"]["interval"] = interval
    (tmp_path / "test.flow.yaml").write_text(yaml.safe_dump(catalog, sort_keys=False))
    if not (tmp_path / "acmeCo").exists():
        shutil.copytree(CONNECTOR_DIR / "acmeCo", tmp_path / "acmeCo")
    advanced = {"base_url": server.url, "delayed_lag": "PT5S", **config.pop("advanced", {})}
    full = {"credentials": credentials or PRIVATE_APP, "advanced": advanced, **config}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(full))
    return tmp_path / "test.flow.yaml"


def capture(
    catalog: Path, *args: str, idle: str = "2s", timeout: float = 120
) -> dict[str, list[dict[str, Any]]]:
    """Documents (and `connectorState` lines) per collection of a preview that runs until the
    connector is caught up: backfills done and nothing new for `idle`."""
    proc = flowctl(
        "preview",
        "--source",
        str(catalog),
        "--until-caught-up",
        "--caught-up-idle",
        idle,
        *args,
        timeout=timeout,
    )
    docs: dict[str, list[dict[str, Any]]] = {}
    for name, doc in lines(proc.stdout):
        docs.setdefault(name, []).append(doc)
    return docs
