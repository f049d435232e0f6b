"""The Airbyte shim (`estuary_cdk.shim_airbyte_cdk`) and the two modules Airbyte-based connectors
import before it (`pydantic_polyfill`, `requests_session_send_patch`).

Those connectors run under pydantic 1.10 with airbyte-cdk 0.52 (all 14 of the reference's lock
airbyte-cdk 0.52.10, airbyte-protocol-models 0.4.2, pydantic 1.10.14), so the shim is tested
there: a small Airbyte source (tests/airbyte_shim/source_tiny, an incremental paged stream and a
full-refresh one) is run as a connector process, the way those connectors' `__main__` runs, in a
virtualenv holding what source-hubspot's lock file holds (tests/airbyte_shim/requirements.txt)
and this tree's kit on its path, against a fake API this test serves on 127.0.0.1. The virtualenv
is made once under the user's cache and reused while its requirements stay the same (cold: ~20 s
with a warm pip cache; each connector run ~1 s). `ESTUARY_CDK_SKIP_AIRBYTE_SHIM=1` skips those
tests (e.g. offline). The rest runs in the kit's own environment, without airbyte-cdk.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import threading
import venv
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from estuary_cdk import ValidationError, pydantic_polyfill, requests_session_send_patch, shim_airbyte_cdk
from estuary_cdk.shim_airbyte_cdk import (
    RESOURCE_CONFIG_SCHEMA,
    ResourceConfig,
    set_additional_properties_false,
    transform_airbyte_key,
)

KIT = Path(__file__).resolve().parents[1]
FIXTURE = Path(__file__).parent / "airbyte_shim"
API_KEY = "tiny-secret-key-123"


# -- in the kit's own environment (pydantic 2, no airbyte-cdk) ----------------------------------


def test_the_shim_modules_import_without_airbyte_cdk() -> None:
    assert "airbyte_cdk" not in sys.modules
    assert pydantic_polyfill.VERSION == "v2"
    assert pydantic_polyfill.GenericModel is __import__("pydantic").BaseModel
    assert requests_session_send_patch.DEFAULT_TIMEOUT == 7200
    assert shim_airbyte_cdk.PATH_POINTERS == ["/namespace", "/stream"]


def test_airbyte_keys_become_json_pointers() -> None:
    assert transform_airbyte_key("piz/za") == ["piz~1za"]
    assert transform_airbyte_key(["piz/za", "par~ty"]) == ["piz~1za", "par~0ty"]
    assert transform_airbyte_key([["pizza", "che/ese"], ["potato"]]) == ["pizza/che~1ese", "potato"]


def test_resource_configs_are_checked_and_name_every_problem() -> None:
    config = ResourceConfig.from_json(
        {"stream": "s", "syncMode": "incremental", "namespace": "n", "cursorField": ["c"], "_meta": {}}, "b"
    )
    assert config.path() == ["n", "s"]
    assert config.to_json() == {
        "stream": "s",
        "syncMode": "incremental",
        "namespace": "n",
        "cursorField": ["c"],
    }
    assert ResourceConfig.from_json({"stream": "s", "syncMode": "full_refresh"}, "b").path() == ["s"]
    with pytest.raises(ValidationError) as caught:
        ResourceConfig.from_json({"syncMode": "sometimes", "cursorField": "c", "extra": 1}, "binding 0")
    assert caught.value.errors == [
        "binding 0: 'stream' is required and must be a string",
        "binding 0: 'syncMode' must be one of full_refresh, incremental (got 'sometimes')",
        "binding 0: 'cursorField' must be a list of strings",
        "binding 0: unknown field(s) extra in the resource config",
    ]
    assert ResourceConfig.model_json_schema() == RESOURCE_CONFIG_SCHEMA


def test_sourced_schemas_are_closed_at_every_level() -> None:
    schema = {
        "type": "object",
        "properties": {
            "a": {"type": ["null", "object"], "properties": {"b": {"type": "string"}}},
            "c": {"type": "array", "items": {"type": "object"}},
            "d": {"anyOf": [{"type": "object"}, {"type": "string"}]},
        },
    }
    closed = set_additional_properties_false(schema)
    assert closed["additionalProperties"] is False
    assert closed["properties"]["a"]["additionalProperties"] is False
    assert closed["properties"]["c"]["items"]["additionalProperties"] is False
    assert closed["properties"]["d"]["anyOf"][0]["additionalProperties"] is False
    assert "additionalProperties" not in closed["properties"]["d"]["anyOf"][1]
    assert "additionalProperties" not in schema  # a copy


# -- under pydantic 1.10.14 with airbyte-cdk 0.52.10 --------------------------------------------

skip_airbyte = pytest.mark.skipif(
    os.environ.get("ESTUARY_CDK_SKIP_AIRBYTE_SHIM") == "1" or sys.version_info >= (3, 13),
    reason="ESTUARY_CDK_SKIP_AIRBYTE_SHIM=1, or Python 3.13+ (the Airbyte connectors' locked packages, "
    "pydantic 1.10.14 and pendulum 3.0.0 among them, have no wheels for it; the connectors run on 3.11/3.12)",
)


def _shim_venv() -> Path:
    """The Airbyte connectors' environment (requirements.txt, plus the kit's orjson at this venv's
    version), made once under the user's cache and rebuilt only when that list changes; a lock
    keeps concurrent suites from building it twice."""
    wanted = (FIXTURE / "requirements.txt").read_text() + f"orjson=={metadata.version('orjson')}\n"
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "estuary-cdk-airbyte-shim"
    root = cache / f"py{sys.version_info.major}{sys.version_info.minor}"
    python = root / "bin" / "python"
    stamp = root / "requirements.txt"
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not python.exists() or not stamp.exists() or stamp.read_text() != wanted:
            venv.create(root, clear=True, with_pip=True)
            (root / "wanted.txt").write_text(wanted)
            proc = subprocess.run(
                [
                    str(python),
                    "-m",
                    "pip",
                    "install",
                    "-q",
                    "--disable-pip-version-check",
                    "-r",
                    str(root / "wanted.txt"),
                ],
                capture_output=True,
                text=True,
                timeout=900,
            )
            assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
            stamp.write_text(wanted)
    return python


class _FakeApi:
    """The tiny source's API: `/ping`, `/items?since=&page=` (pages of two, updated after
    `since`), `/colors`; every route wants `Authorization: Bearer <API_KEY>`."""

    def __init__(self) -> None:
        self.items = [{"id": i, "name": f"item {i}", "updated": 100 + i} for i in range(1, 6)]
        self.colors = [{"color": c} for c in ("red", "green", "blue")]
        self.requests: list[str] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                url = urlparse(self.path)
                query = parse_qs(url.query)
                api.requests.append(self.path)
                body: Any
                if self.headers.get("Authorization") != f"Bearer {API_KEY}":
                    self.send_response(401)
                    self.end_headers()
                    return
                if url.path == "/ping":
                    body = {}
                elif url.path == "/items":
                    since = int(query.get("since", ["0"])[0])
                    page = int(query.get("page", ["0"])[0])
                    rows = [r for r in api.items if r["updated"] > since]
                    more = page * 2 + 2 < len(rows)
                    body = {"data": rows[page * 2 : page * 2 + 2], "next_page": page + 1 if more else None}
                elif url.path == "/colors":
                    body = {"data": api.colors}
                else:
                    self.send_response(404)
                    self.end_headers()
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture(scope="module")
def shim_python() -> Path:
    return _shim_venv()


@pytest.fixture
def api() -> Iterator[_FakeApi]:
    fake = _FakeApi()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


class Run:
    def __init__(self, proc: subprocess.CompletedProcess[str]) -> None:
        self.returncode = proc.returncode
        self.raw = proc.stdout.splitlines()
        self.stdout = [json.loads(line) for line in self.raw]
        self.stderr = proc.stderr
        self.logs = [json.loads(line) for line in proc.stderr.splitlines() if line.startswith("{")]

    def of(self, kind: str) -> list[Any]:
        return [line[kind] for line in self.stdout if kind in line]


def _run(python: Path, *requests: dict[str, Any], env: dict[str, str] | None = None) -> Run:
    lines = "".join(json.dumps(r) + "\n" for r in requests)
    proc = subprocess.run(
        [str(python), "-m", "source_tiny"],
        input=lines,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=FIXTURE,
        env={**os.environ, "PYTHONPATH": f"{KIT}{os.pathsep}{FIXTURE}", "DOCS_URL": "", **(env or {})},
    )
    return Run(proc)


def _config(api: _FakeApi, key: str = API_KEY) -> dict[str, Any]:
    return {"base_url": api.url, "api_key": key}


BINDINGS = [
    {
        "collection": {"name": "acmeCo/items", "key": ["/id"], "writeSchema": {"type": "object"}},
        "resourceConfig": {"stream": "items", "syncMode": "incremental", "cursorField": ["updated"]},
        "resourcePath": ["items"],
        "stateKey": "items",
    },
    {
        "collection": {"name": "acmeCo/colors", "key": ["/_meta/row_id"], "writeSchema": {"type": "object"}},
        "resourceConfig": {"stream": "colors", "syncMode": "full_refresh"},
        "resourcePath": ["colors"],
        "stateKey": "colors",
    },
]


def _open(api: _FakeApi, state: dict[str, Any]) -> dict[str, Any]:
    return {
        "open": {
            "capture": {
                "name": "acmeCo/tiny",
                "config": _config(api),
                "bindings": BINDINGS,
                "intervalSeconds": 300,
            },
            "version": "v1",
            "range": {},
            "state": state,
        }
    }


def _python_c(python: Path, script: str) -> subprocess.CompletedProcess[str]:
    """`python -c script` with this tree's kit on the path."""
    env = {**os.environ, "PYTHONPATH": str(KIT)}
    return subprocess.run([str(python), "-c", script], capture_output=True, text=True, timeout=60, env=env)


@skip_airbyte
def test_under_pydantic_1_the_polyfill_and_the_requests_patch_work(shim_python: Path) -> None:
    script = (
        "import estuary_cdk.pydantic_polyfill as p, estuary_cdk.requests_session_send_patch as r\n"
        "import pydantic, pydantic.generics, requests, datetime\n"
        "import estuary_cdk.requests_session_send_patch\n"
        "assert p.VERSION == 'v1' and p.GenericModel is pydantic.generics.GenericModel\n"
        "assert pydantic.AwareDatetime is datetime.datetime\n"
        "class M(pydantic.BaseModel):\n    a: int\n    b: str = 'x'\n"
        "assert M.model_validate_json(b'{\"a\": 1}') == M(a=1)\n"
        "assert M(a=1).model_dump_json(exclude_unset=True) == '{\"a\": 1}'\n"
        "assert M.model_json_schema()['required'] == ['a']\n"
        "seen = []\n"
        "send = requests.Session.send.__wrapped__\n"
        "requests.Session.send.__wrapped__  # wrapped once, however often imported\n"
        "assert not hasattr(send, '__wrapped__')\n"
        "import requests.adapters\n"
        "requests.adapters.HTTPAdapter.send = lambda self, req, **kw: seen.append(kw['timeout'])\n"
        "try:\n    requests.get('http://127.0.0.1:9/')\nexcept Exception:\n    pass\n"
        "try:\n    requests.get('http://127.0.0.1:9/', timeout=3)\nexcept Exception:\n    pass\n"
        "assert seen == [7200, 3], seen\n"
        "print('ok')\n"
    )
    proc = _python_c(shim_python, script)
    assert proc.stdout.strip() == "ok", proc.stderr


@skip_airbyte
def test_under_pydantic_1_what_needs_pydantic_2_says_so(shim_python: Path) -> None:
    script = (
        "import estuary_cdk, estuary_cdk.flow, estuary_cdk.utils, estuary_cdk.logger, estuary_cdk.shim_airbyte_cdk\n"
        "for name in ('estuary_cdk.capture', 'estuary_cdk.materialize'):\n"
        "    try:\n        __import__(name)\n    except ImportError as exc:\n        print(exc)\n"
    )
    proc = _python_c(shim_python, script)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 2
    assert all(
        line.startswith("this part of estuary_cdk needs pydantic 2 (this is pydantic 1.10.14)")
        for line in lines
    )


@skip_airbyte
def test_spec(shim_python: Path) -> None:
    run = _run(shim_python, {"spec": {"connectorType": "IMAGE"}})
    assert run.returncode == 0, run.stderr
    [spec] = run.of("spec")
    assert list(spec) == [
        "configSchema",
        "resourceConfigSchema",
        "documentationUrl",
        "resourcePathPointers",
        "oauth2",
        "protocol",
    ]
    assert spec["configSchema"]["properties"]["api_key"]["airbyte_secret"] is True
    assert spec["resourceConfigSchema"] == RESOURCE_CONFIG_SCHEMA
    assert spec["documentationUrl"] == "https://example.com/source-tiny"
    assert spec["resourcePathPointers"] == ["/namespace", "/stream"]
    assert spec["protocol"] == 3032023
    assert list(spec["oauth2"]) == [
        "provider",
        "accessTokenBody",
        "authUrlTemplate",
        "accessTokenResponseMap",
        "accessTokenUrlTemplate",
    ]  # Neither accessTokenHeaders (empty: a default) nor the kit's additionalTokenExchangeBody.
    # Written as the reference's shim writes it (pydantic 1's `.json()`): byte-identical output.
    assert run.raw == [json.dumps({"spec": spec})]
    # Images set DOCS_URL; it wins over the source's own URL.
    run = _run(shim_python, {"spec": {}}, env={"DOCS_URL": "https://go.estuary.dev/tiny"})
    assert run.of("spec")[0]["documentationUrl"] == "https://go.estuary.dev/tiny"


@skip_airbyte
def test_discover(shim_python: Path, api: _FakeApi) -> None:
    run = _run(shim_python, {"discover": {"connectorType": "IMAGE", "config": _config(api)}})
    assert run.returncode == 0, run.stderr
    [discovered] = run.of("discovered")
    items, colors = discovered["bindings"]
    assert {k: v for k, v in items.items() if k != "documentSchema"} == {
        "recommendedName": "items",
        "resourceConfig": {"stream": "items", "syncMode": "incremental", "cursorField": ["updated"]},
        "key": ["/id"],
        "disable": False,
    }
    assert colors["resourceConfig"] == {"stream": "colors", "syncMode": "full_refresh"}
    assert colors["key"] == ["/_meta/row_id"]  # a full refresh without a key: the row's position
    schema = items["documentSchema"]
    assert schema["properties"]["_meta"] == {
        "type": "object",
        "properties": {"row_id": {"type": "integer"}},
        "required": ["row_id"],
    }
    assert schema["x-infer-schema"] is True
    assert schema["then"] == {"reduce": {"strategy": "merge", "delete": True}}
    assert "isFallbackKey" not in json.dumps(discovered)
    assert run.raw == [json.dumps({"discovered": discovered})]


@skip_airbyte
def test_validate(shim_python: Path, api: _FakeApi) -> None:
    validate = {"name": "acmeCo/tiny", "connectorType": "IMAGE", "config": _config(api), "bindings": BINDINGS}
    run = _run(shim_python, {"validate": validate})
    assert run.returncode == 0, run.stderr
    assert run.of("validated") == [{"bindings": [{"resourcePath": ["items"]}, {"resourcePath": ["colors"]}]}]
    # The source logged the key while checking: redacted, as its spec marks it airbyte_secret.
    assert API_KEY not in run.stderr and "checking with the key [redacted]" in run.stderr

    run = _run(shim_python, {"validate": {**validate, "config": _config(api, key="wrong-key-456")}})
    assert run.returncode == 1 and run.stdout == []
    assert run.logs[-1]["level"] == "ERROR"
    assert run.logs[-1]["msg"] == "'the API refused the key (401)'"

    nope = {**BINDINGS[0], "resourceConfig": {"stream": "nope", "syncMode": "full_refresh"}}
    run = _run(shim_python, {"validate": {**validate, "bindings": [nope]}})
    assert run.returncode == 1 and run.logs[-1]["msg"] == "Resource 'nope' was not found."


@skip_airbyte
def test_open_captures_documents_and_checkpoints_then_resumes(shim_python: Path, api: _FakeApi) -> None:
    run = _run(shim_python, _open(api, {}))
    assert run.returncode == 0, run.stderr
    assert run.stdout[0] == {"opened": {"explicitAcknowledgements": False}}
    captured = run.of("captured")
    assert [(c["binding"], c["doc"]["_meta"]) for c in captured] == [
        (0, {"op": "u", "row_id": 0}),
        (0, {"op": "u", "row_id": 1}),
        (0, {"op": "u", "row_id": 2}),
        (0, {"op": "u", "row_id": 3}),
        (0, {"op": "u", "row_id": 4}),
        (1, {"op": "u", "row_id": 0}),
        (1, {"op": "u", "row_id": 1}),
        (1, {"op": "u", "row_id": 2}),
    ]
    assert captured[0]["doc"] == {
        "_meta": {"op": "u", "row_id": 0},
        "id": 1,
        "name": "item 1",
        "updated": 101,
    }
    assert [c["doc"]["color"] for c in captured[5:]] == ["red", "green", "blue"]

    # Every checkpoint replaces the whole state, and commits the documents before it: the items
    # stream checkpoints every two records, and the end of the read checkpoints once more.
    checkpoints = [line["checkpoint"]["state"] for line in run.stdout if "checkpoint" in line]
    assert all(c["mergePatch"] is False for c in checkpoints)
    kinds = ["c" if "captured" in line else "k" for line in run.stdout[1:]]
    assert kinds[-1] == "k" and kinds[:3] == ["c", "c", "k"]
    final = checkpoints[-1]["updated"]
    assert final["bindingStateV1"]["colors"] == {"rowId": 3}
    items_state = final["bindingStateV1"]["items"]
    assert items_state["rowId"] == 5
    assert items_state["state"]["type"] == "STREAM"
    assert items_state["state"]["stream"] == {
        "stream_descriptor": {"name": "items", "namespace": None},
        "stream_state": {"updated": 105},
    }

    # Nothing but protocol lines on stdout: the source's print went to stderr, and every log line
    # is the kit's JSON (none in Airbyte's own format).
    assert "a stray print from the source" in run.stderr
    assert all(set(line) == {"level", "msg", "fields"} for line in run.logs)
    assert any(line["msg"] == "stream status" for line in run.logs)

    # Resumed from that state (with unknown top-level keys, which the shim drops): only what
    # changed since is read, and row ids go on from where they were.
    api.items.append({"id": 6, "name": "item 6", "updated": 110})
    api.requests.clear()
    again = _run(shim_python, _open(api, {**final, "legacy": {"x": 1}}))
    assert again.returncode == 0, again.stderr
    assert any(r.startswith("/items?since=105") for r in api.requests), api.requests
    docs = [(c["binding"], c["doc"]) for c in again.of("captured")]
    assert docs[0] == (0, {"_meta": {"op": "u", "row_id": 5}, "id": 6, "name": "item 6", "updated": 110})
    assert [d["_meta"]["row_id"] for b, d in docs if b == 1] == [3, 4, 5]
    last = again.of("checkpoint")[-1]["state"]["updated"]
    assert set(last) == {"bindingStateV1"}
    assert last["bindingStateV1"]["items"]["state"]["stream"]["stream_state"] == {"updated": 110}
    assert last["bindingStateV1"]["colors"] == {"rowId": 6}


@skip_airbyte
def test_a_new_binding_starts_from_scratch_and_a_failing_source_fails_the_capture(
    shim_python: Path, api: _FakeApi
) -> None:
    # The colors binding backfilled anew (its state key changed): it starts at row 0 again, while
    # the old key's entry stays in the state as the reference kit leaves it.
    state = {"bindingStateV1": {"items": {"rowId": 7}, "colors": {"rowId": 9}}}
    bindings = [BINDINGS[0], {**BINDINGS[1], "stateKey": "colors.v1", "backfill": 1}]
    request = _open(api, state)
    request["open"]["capture"]["bindings"] = bindings
    run = _run(shim_python, request)
    assert run.returncode == 0, run.stderr
    colors = [c["doc"]["_meta"]["row_id"] for c in run.of("captured") if c["binding"] == 1]
    assert colors == [0, 1, 2]
    final = run.of("checkpoint")[-1]["state"]["updated"]["bindingStateV1"]
    assert final["colors"] == {"rowId": 9} and final["colors.v1"] == {"rowId": 3}

    # A source failing mid-read: the documents read since the last checkpoint are not written,
    # and the process ends with exit 1 and the reason as its last ERROR line.
    api.colors = None  # type: ignore[assignment]
    run = _run(shim_python, _open(api, {}))
    assert run.returncode == 1
    assert "checkpoint" in run.stdout[-1] or "opened" in run.stdout[-1]
    assert run.logs[-1]["level"] == "ERROR"


@skip_airbyte
def test_sourced_schemas_go_first_each_committed_by_an_empty_checkpoint(
    shim_python: Path, api: _FakeApi
) -> None:
    # In-process, with the shim's output in memory and the open request handed to `serve`.
    script = (
        "import asyncio, io, json, sys\n"
        "import estuary_cdk.pydantic_polyfill\n"
        "from estuary_cdk import shim_airbyte_cdk\n"
        "from source_tiny import SourceTiny\n"
        "shim = shim_airbyte_cdk.CaptureShim(delegate=SourceTiny(), oauth2=None, schema_inference=False,\n"
        "                                    should_emit_sourced_schemas=True)\n"
        "shim.output = io.BytesIO()\n"
        "async def requests(_cls):\n    yield json.loads(sys.argv[1])\n"
        "asyncio.run(shim.serve(requests=requests))\n"
        "sys.__stdout__.write(shim.output.getvalue().decode())\n"
    )
    env = {**os.environ, "PYTHONPATH": f"{KIT}{os.pathsep}{FIXTURE}"}
    proc = subprocess.run(
        [str(shim_python), "-c", script, json.dumps(_open(api, {}))],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert lines[0] == {"opened": {"explicitAcknowledgements": False}}
    empty = {"checkpoint": {"state": {"updated": {}, "mergePatch": True}}}
    assert [lines[1]["sourcedSchema"]["binding"], lines[3]["sourcedSchema"]["binding"]] == [0, 1]
    assert lines[2] == empty and lines[4] == empty
    items = lines[1]["sourcedSchema"]["schema_json"]
    assert items["additionalProperties"] is False
    assert items["properties"]["_meta"]["additionalProperties"] is False
    assert items["properties"]["_meta"]["required"] == ["row_id"]
    assert "x-infer-schema" not in items
    assert "captured" in lines[5]


@skip_airbyte
def test_a_capture_past_its_restart_interval_stops_cleanly(shim_python: Path, api: _FakeApi) -> None:
    # As every capture of the kit after 24 h (here at once): it stops reading and exits 0, the
    # documents since its last checkpoint unwritten, for the runtime to restart it.
    run = _run(shim_python, _open(api, {}), env={"ESTUARY_CDK_PERIODIC_RESTART_SECONDS": "0"})
    assert run.returncode == 0, run.stderr
    messages = [line["msg"] for line in run.logs]
    assert "Airbyte shim is yielding to stop." in messages
    assert "Emitting final checkpoint for sweep." not in messages
    assert run.stdout[0] == {"opened": {"explicitAcknowledgements": False}}
    assert all("captured" in line or "checkpoint" in line for line in run.stdout[1:])
    if len(run.stdout) > 1:
        assert "checkpoint" in run.stdout[-1]
