"""Protocol tests: the fixture connector (tests/core_fixtures/source_core) runs as a real
subprocess; request lines go to its stdin and its exact response lines are asserted."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web

FIXTURES = Path(__file__).parent / "core_fixtures"
CDK_ROOT = Path(__file__).parent.parent


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(FIXTURES), str(CDK_ROOT)])
    env.pop("LOG_LEVEL", None)
    env.update(extra or {})
    return env


def config(**overrides: Any) -> dict[str, Any]:
    return {"token": "tok-secret-123", "pages": 2, "per_page": 2, **overrides}


def binding(name: str, backfill: int = 0) -> dict[str, Any]:
    return {
        "resourceConfig": {"name": name, "ignored": True},
        "resourcePath": [name],
        "collection": {"name": f"acmeCo/{name}", "key": ["/id"], "writeSchema": {}, "projections": []},
        "backfill": backfill,
        "stateKey": name,
    }


def open_request(
    cfg: dict[str, Any], names: list[str], state: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "open": {
            "capture": {
                "name": "acmeCo/core",
                "connectorType": "IMAGE",
                "config": cfg,
                "intervalSeconds": 300,
                "bindings": [binding(n) for n in names],
                "shardTemplate": {"id": "x"},
            },
            "version": "v1",
            "range": {"keyEnd": 4294967295, "rClockEnd": 4294967295},
            "state": state or {},
            "newRuntimeField": {"a": 1},
        }
    }


class Result:
    def __init__(self, code: int, stdout: bytes, stderr: bytes) -> None:
        self.code = code
        self.stdout_text = stdout.decode()
        self.lines = self.stdout_text.splitlines()
        self.logs = [orjson.loads(line) for line in stderr.decode().splitlines() if line.strip()]

    @property
    def messages(self) -> list[dict[str, Any]]:
        return [orjson.loads(line) for line in self.lines]

    @property
    def last_log(self) -> dict[str, Any]:
        return self.logs[-1]


async def run(
    requests: list[Any],
    env: dict[str, str] | None = None,
    stdin_file: Path | None = None,
    limit: float = 30,
) -> Result:
    payload = b"".join((r if isinstance(r, bytes) else orjson.dumps(r)) + b"\n" for r in requests)
    if stdin_file is not None:
        stdin_file.write_bytes(payload)  # noqa: ASYNC240 -- a tiny test file
        with stdin_file.open("rb") as f:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "source_core",
                stdin=f,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=_env(env),
            )
            out, err = await asyncio.wait_for(proc.communicate(), limit)
    else:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "source_core",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=_env(env),
        )
        out, err = await asyncio.wait_for(proc.communicate(payload), limit)
    assert proc.returncode is not None
    return Result(proc.returncode, out, err)


SPEC = {"spec": {"connectorType": "IMAGE", "config": {}}}


async def test_spec_then_discover_in_one_process_exit_zero() -> None:
    result = await run([SPEC, {"discover": {"connectorType": "IMAGE", "config": config(), "name": "new"}}])
    assert result.code == 0, result.logs
    spec, _ = result.messages
    assert list(spec["spec"]) == [
        "configSchema",
        "resourceConfigSchema",
        "documentationUrl",
        "resourcePathPointers",
        "protocol",
    ]
    assert spec["spec"]["protocol"] == 3032023
    assert spec["spec"]["configSchema"]["properties"]["token"]["secret"] is True
    assert result.lines[1] == (
        '{"discovered":{"bindings":['
        '{"recommendedName":"alpha","resourceConfig":{"name":"alpha"},"documentSchema":{"type":"object","x-infer-schema":true},"key":["/id"],"disable":false},'
        '{"recommendedName":"beta","resourceConfig":{"name":"beta"},"documentSchema":{"type":"object","x-infer-schema":true},"key":["/id"],"disable":false}]}}'
    )


async def test_validate_reports_all_errors_together() -> None:
    validate = {
        "validate": {
            "name": "acmeCo/core",
            "connectorType": "IMAGE",
            "config": config(validation_errors=["Token is expired."]),
            "bindings": [
                {
                    "collection": {"name": "acmeCo/x", "key": ["/id"], "writeSchema": {}},
                    "resourceConfig": {"name": "nope"},
                },
                {
                    "collection": {"name": "acmeCo/a", "key": ["/id"], "writeSchema": {}},
                    "resourceConfig": {"name": "alpha"},
                },
            ],
        }
    }
    result = await run([SPEC, validate])
    assert result.code == 1
    assert len(result.lines) == 1  # Only the spec response.
    assert result.last_log["level"] == "ERROR"
    assert (
        result.last_log["msg"]
        == "Multiple validation errors:\n - Token is expired.\n - Resource 'nope' was not found."
    )
    assert "traceback" not in result.last_log["fields"]


async def test_validate_and_apply_success() -> None:
    validate = {
        "validate": {
            "name": "acmeCo/core",
            "config": config(),
            "bindings": [
                {
                    "collection": {"name": "acmeCo/a", "key": ["/id"], "writeSchema": {}},
                    "resourceConfig": {"name": "alpha"},
                    "backfill": 2,
                }
            ],
        }
    }
    apply = {
        "apply": {
            "capture": {"name": "acmeCo/core", "config": config(), "intervalSeconds": 300},
            "version": "v",
            "dryRun": False,
        }
    }
    result = await run([validate, apply])
    assert result.code == 0, result.logs
    assert result.lines == [
        '{"validated":{"bindings":[{"resourcePath":["alpha"]}]}}',
        '{"applied":{"actionDescription":""}}',
    ]


EXPECTED_ALPHA = [
    '{"captured":{"binding":0,"doc":{"id":100,"page":1,"at":"2025-01-01T00:01:00Z","binding":"alpha"}}}',
    '{"captured":{"binding":0,"doc":{"id":101,"page":1,"at":"2025-01-01T00:01:01Z","binding":"alpha"}}}',
    '{"checkpoint":{"state":{"updated":{"cursors":{"alpha":1}},"mergePatch":true}}}',
    '{"captured":{"binding":0,"doc":{"id":200,"page":2,"at":"2025-01-01T00:02:00Z","binding":"alpha"}}}',
    '{"captured":{"binding":0,"doc":{"id":201,"page":2,"at":"2025-01-01T00:02:01Z","binding":"alpha"}}}',
    '{"checkpoint":{"state":{"updated":{"cursors":{"alpha":2}},"mergePatch":true}}}',
]


@pytest.mark.parametrize("kind", ["dict", "model"])
async def test_open_emits_documents_and_checkpoints(kind: str) -> None:
    result = await run([SPEC, open_request(config(doc_kind=kind), ["alpha"])])
    assert result.code == 0, result.logs
    assert result.lines[1:] == ['{"opened":{"explicitAcknowledgements":false}}', *EXPECTED_ALPHA]
    statuses = [log["msg"] for log in result.logs if log["fields"].get("eventType") == "connectorStatus"]
    assert statuses == ["Capture started."]
    # The secret token from the config never reaches the logs.
    assert all("tok-secret-123" not in orjson.dumps(log).decode() for log in result.logs)
    assert any(
        log["msg"] == "opening" and log["fields"]["args"]["token"] == "[redacted]" for log in result.logs
    )


async def test_open_resumes_from_state_and_with_regular_file_stdin(tmp_path: Path) -> None:
    request = open_request(config(), ["alpha"], state={"cursors": {"alpha": 1}})
    result = await run([request], stdin_file=tmp_path / "requests.jsonl")
    assert result.code == 0, result.logs
    assert result.lines == ['{"opened":{"explicitAcknowledgements":false}}', *EXPECTED_ALPHA[3:]]


async def test_concurrent_bindings_never_interleave_sequences() -> None:
    result = await run([open_request(config(pages=20, per_page=30), ["alpha", "beta"])])
    assert result.code == 0, result.logs
    sequence: list[int] = []
    for message in result.messages[1:]:
        if "captured" in message:
            sequence.append(message["captured"]["binding"])
        else:
            ((key, page),) = message["checkpoint"]["state"]["updated"]["cursors"].items()
            assert sequence == [0 if key == "alpha" else 1] * 30, (key, page)
            sequence = []
    assert sum(1 for m in result.messages if "captured" in m) == 2 * 20 * 30


async def test_failing_fetch_exits_one_with_the_reason_last() -> None:
    result = await run([SPEC, open_request(config(fail_at_page=2), ["alpha"])])
    assert result.code == 1
    assert result.lines[1:] == ['{"opened":{"explicitAcknowledgements":false}}', *EXPECTED_ALPHA[:3]]
    assert result.last_log["level"] == "ERROR"
    assert result.last_log["msg"] == "Task capture.alpha: boom at page 2"
    failure = [log for log in result.logs if log["msg"].startswith("Task capture.alpha failed")]
    assert failure and failure[0]["fields"]["traceback"][-1] == "RuntimeError: boom at page 2"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b'{"spec": {', "malformed request on line 2: invalid JSON: "),
        (
            b'{"discover": {"config": {"pages": 1}}}',
            "malformed request on line 2: discover.config.token: Field required",
        ),
        (b'{"hello": {}}', "malformed request on line 2: expected one of the keys spec, discover, validate"),
    ],
)
async def test_malformed_request_line_one_line_error(line: bytes, expected: str) -> None:
    result = await run([SPEC, line])
    assert result.code == 1
    assert len(result.lines) == 1
    assert result.last_log["level"] == "ERROR"
    assert result.last_log["msg"].startswith(expected)
    assert "\n" not in result.last_log["msg"]


async def test_blank_lines_are_skipped_and_empty_stdin_is_a_clean_end() -> None:
    result = await run([b"", SPEC, b"   "])
    assert result.code == 0 and len(result.lines) == 1
    empty = await run([])
    assert empty.code == 0 and empty.lines == []


async def _read_message(stream: asyncio.StreamReader) -> dict[str, Any]:
    line = await asyncio.wait_for(stream.readline(), 20)
    assert line, "connector closed stdout"
    return orjson.loads(line)


async def test_explicit_acknowledgements_gate_each_checkpoint() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "source_core",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=_env(),
    )
    assert proc.stdin and proc.stdout
    proc.stdin.write(orjson.dumps(open_request(config(explicit_acks=True, pages=3), ["alpha"])) + b"\n")
    await proc.stdin.drain()
    assert await _read_message(proc.stdout) == {"opened": {"explicitAcknowledgements": True}}
    checkpoints = 0
    while checkpoints < 3:
        message = await _read_message(proc.stdout)
        if "checkpoint" in message:
            checkpoints += 1
            assert message["checkpoint"]["state"]["updated"] == {"cursors": {"alpha": checkpoints}}
            # Until acknowledged, the task does not produce its next page.
            pending = asyncio.ensure_future(proc.stdout.readline())
            done, _ = await asyncio.wait({pending}, timeout=0.3)
            assert not done, "checkpoint sequence continued before its acknowledgement"
            proc.stdin.write(b'{"acknowledge":{"checkpoints":1}}\n')
            await proc.stdin.drain()
            line = await asyncio.wait_for(pending, 20) if checkpoints < 3 else await pending
            if line:
                message = orjson.loads(line)
                assert "captured" in message
    proc.stdin.close()
    assert await asyncio.wait_for(proc.wait(), 20) == 0


async def test_too_many_acknowledgements_fail_clearly() -> None:
    ack = {"acknowledge": {"checkpoints": 5}}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "source_core",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=_env(),
    )
    assert proc.stdin and proc.stdout and proc.stderr
    proc.stdin.write(orjson.dumps(open_request(config(explicit_acks=True, pages=1), ["alpha"])) + b"\n")
    await proc.stdin.drain()
    await _read_message(proc.stdout)  # opened
    while "checkpoint" not in await _read_message(proc.stdout):
        pass
    proc.stdin.write(orjson.dumps(ack) + b"\n")
    proc.stdin.close()
    code = await asyncio.wait_for(proc.wait(), 20)
    logs = [orjson.loads(line) for line in (await proc.stderr.read()).decode().splitlines()]
    assert code == 1
    assert logs[-1]["msg"] == (
        "connector protocol error: the runtime acknowledged 5 checkpoint(s) when only 1 written "
        "checkpoint(s) were awaiting an acknowledgement"
    )


async def test_an_acknowledgement_right_after_open_is_a_protocol_error() -> None:
    """Nothing can be acknowledged before the capture wrote a checkpoint: an acknowledgement
    read right after `open` (before its session even started) fails the capture by name."""
    result = await run(
        [open_request(config(explicit_acks=True, pages=1), ["alpha"]), {"acknowledge": {"checkpoints": 3}}]
    )
    assert result.code == 1
    assert result.last_log["level"] == "ERROR"
    assert result.last_log["msg"] == (
        "connector protocol error: the runtime acknowledged 3 checkpoint(s) before the capture "
        "opened, when no checkpoint can be awaiting an acknowledgement"
    )
    assert not any("checkpoint" in m for m in result.messages), "a checkpoint was written"


async def test_without_explicit_acknowledgements_an_early_one_is_ignored() -> None:
    result = await run([open_request(config(pages=1), ["alpha"]), {"acknowledge": {"checkpoints": 3}}])
    assert result.code == 0, result.logs[-1]
    assert any("checkpoint" in m for m in result.messages)


async def test_periodic_restart_stops_gracefully_with_exit_zero() -> None:
    result = await run(
        [open_request(config(wait_for_stop=True, pages=1), ["alpha"])],
        env={"ESTUARY_CDK_PERIODIC_RESTART_SECONDS": "0.2"},
    )
    assert result.code == 0, result.logs
    assert any(log["msg"] == "stopping for the periodic restart" for log in result.logs)
    assert result.lines[-1] == EXPECTED_ALPHA[2]


async def test_log_level_env_filters_info() -> None:
    result = await run([open_request(config(pages=1), ["alpha"])], env={"LOG_LEVEL": "warn"})
    assert result.code == 0
    # Only the warning about the binding's unknown resource config key (accepted, but named).
    assert [(log["level"], log["fields"]["args"]["key"]) for log in result.logs] == [("WARNING", "ignored")]


async def test_update_config_is_encrypted_and_published_as_config_update() -> None:
    received: list[Any] = []

    async def encrypt(request: web.Request) -> web.Response:
        body = await request.json()
        received.append(body)
        return web.json_response({"token_sops": "ENC[xyz]", "migrate": False, "sops": {"mac": "m"}})

    app = web.Application()
    app.router.add_post("/v1/encrypt-config", encrypt)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        result = await run(
            [open_request(config(migrate=True, pages=1), ["alpha"])],
            env={"ENCRYPTION_URL": f"http://127.0.0.1:{port}/v1/encrypt-config"},
        )
    finally:
        await runner.cleanup()
    assert result.code == 0, result.logs
    (body,) = received
    assert list(body["config"]) == sorted(body["config"])
    assert body["config"]["migrate"] is False and body["config"]["token"] == "tok-secret-123"
    assert body["schema"]["properties"]["token"]["secret"] is True
    updates = [log for log in result.logs if log["fields"].get("eventType") == "configUpdate"]
    assert len(updates) == 1
    assert updates[0]["msg"] == "Migrated the endpoint config."
    assert updates[0]["fields"]["config"] == {
        "token_sops": "ENC[xyz]",
        "migrate": False,
        "sops": {"mac": "m"},
    }


async def test_unreachable_encryption_service_is_a_clear_error() -> None:
    result = await run(
        [open_request(config(migrate=True, pages=1), ["alpha"])],
        env={"ENCRYPTION_URL": "http://127.0.0.1:9/v1/encrypt-config"},
    )
    assert result.code == 1
    assert result.lines == []
    assert result.last_log["msg"].startswith(
        "could not reach the config encryption service at http://127.0.0.1:9/v1/encrypt-config: "
    )


def test_closed_stdout_fails_with_a_clear_last_line() -> None:
    request = open_request(config(pages=500, per_page=50), ["alpha"])
    proc = subprocess.Popen(
        [sys.executable, "-m", "source_core"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_env(),
    )
    assert proc.stdin and proc.stdout and proc.stderr
    proc.stdin.write(orjson.dumps(request) + b"\n")
    proc.stdin.close()
    assert proc.stdout.read(1000)
    proc.stdout.close()  # The runtime went away.
    stderr = proc.stderr.read()
    assert proc.wait(timeout=60) == 1
    last = orjson.loads(stderr.decode().splitlines()[-1])
    assert last["level"] == "ERROR"
    assert last["msg"] == "Task capture.alpha: writing to the connector output failed: [Errno 32] Broken pipe"


async def test_sigquit_logs_every_task_and_exits_one_with_the_reason_last() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "source_core",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=_env(),
    )
    assert proc.stdin and proc.stdout and proc.stderr
    proc.stdin.write(orjson.dumps(open_request(config(wait_for_stop=True, pages=1), ["alpha"])) + b"\n")
    await proc.stdin.drain()
    while "checkpoint" not in await _read_message(proc.stdout):
        pass
    # The capture now waits for a stop that never comes, with stdin still open (a stuck connector).
    proc.send_signal(signal.SIGQUIT)
    code = await asyncio.wait_for(proc.wait(), 20)
    stderr = (await proc.stderr.read()).decode().splitlines()
    logs = [orjson.loads(line) for line in stderr]  # every line is a JSON log line, no bare traceback
    assert code == 1
    dumped = {log["fields"]["args"]["task_name"] for log in logs if log["msg"] == "SIGQUIT: cancelling task"}
    assert {"periodic-restart", "shutdown-enforcer"} <= dumped
    assert logs[-1]["level"] == "ERROR"
    assert logs[-1]["msg"] == "stopped by SIGQUIT: every task was cancelled (stacks logged above)"
