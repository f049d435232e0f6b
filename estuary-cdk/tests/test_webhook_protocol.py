"""Protocol tests of a push capture: the example webhook connector runs as a real subprocess,
listening on 127.0.0.1 (a free port, named in its "Webhook server listening" log line)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from concurrent.futures import Future, ThreadPoolExecutor
from http.client import HTTPConnection
from pathlib import Path
from typing import Any

from pipe_lines import LineReader

TESTS_DIR = Path(__file__).parent
CONFIG = {"webhooks": {"name": "hooks", "discriminator": {"type": "url", "known_values": ["/orders", "*"]}}}


def env(port: int = 0) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(TESTS_DIR),
        "LOG_LEVEL": "info",
        "ESTUARY_CDK_WEBHOOK_HOST": "127.0.0.1",
        "ESTUARY_CDK_WEBHOOK_PORT": str(port),
    }


def binding(name: str, rule: dict[str, Any]) -> dict[str, Any]:
    return {
        "collection": {"name": f"acmeCo/{name}", "key": ["/_meta/webhookId"], "writeSchema": {}},
        "resourceConfig": {"name": name, "match_rule": rule},
        "resourcePath": [name],
        "stateKey": name,
        "backfill": 0,
    }


BINDINGS = [
    binding("hooks_all", {"type": "url", "value": "*"}),
    binding("hooks_orders", {"type": "url", "value": "/orders"}),
]


def open_request(bindings: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "open": {
            "capture": {
                "name": "acmeCo/webhooks",
                "connectorType": "IMAGE",
                "config": CONFIG,
                "intervalSeconds": 300,
                "bindings": bindings,
            },
            "version": "v1",
            "range": {"keyBegin": 0, "keyEnd": 4294967295, "rClockBegin": 0, "rClockEnd": 4294967295},
            "state": {},
        }
    }


def start(port: int = 0) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "webhook_connector"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env(port),
        cwd=TESTS_DIR,
    )


def send(proc: subprocess.Popen[bytes], message: dict[str, Any]) -> None:
    assert proc.stdin is not None
    proc.stdin.write(json.dumps(message).encode() + b"\n")
    proc.stdin.flush()


def ack(proc: subprocess.Popen[bytes]) -> None:
    send(proc, {"acknowledge": {"checkpoints": 1}})


def open_session(proc: subprocess.Popen[bytes], out: LineReader, bindings: list[dict[str, Any]]) -> None:
    """Open, and acknowledge each binding's initialization checkpoint."""
    send(proc, open_request(bindings))
    assert out.readline() == '{"opened":{"explicitAcknowledgements":true}}'
    for b in bindings:
        checkpoint = json.loads(out.readline())
        state = checkpoint["checkpoint"]["state"]["updated"]["bindingStateV1"][b["stateKey"]]
        assert list(state) == ["last_initialized"]
        ack(proc)


def listening_port(err: LineReader) -> int:
    while True:
        record = json.loads(err.readline())
        if record["msg"] == "Webhook server listening":
            return int(record["fields"]["args"]["port"])


def post(port: int, path: str, body: bytes) -> tuple[int, bytes]:
    conn = HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("POST", path, body=body, headers={"Content-Type": "application/json", "X-Shop": "acme"})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    for pipe in (proc.stdin, proc.stdout, proc.stderr):
        if pipe is not None:
            pipe.close()


def test_documents_are_answered_after_the_runtime_acknowledged_them() -> None:
    proc = start()
    assert proc.stdout is not None and proc.stderr is not None
    out, err = LineReader(proc.stdout.fileno()), LineReader(proc.stderr.fileno())
    pool = ThreadPoolExecutor(max_workers=2)
    try:
        open_session(proc, out, BINDINGS)
        port = listening_port(err)

        reply: Future[tuple[int, bytes]] = pool.submit(
            post, port, "/orders?page=2", b'[{"id": 1}, {"id": 2, "_meta": {"op": "d"}}]'
        )
        lines = [json.loads(out.readline()) for _ in range(3)]
        assert lines[2] == {"checkpoint": {"state": {"updated": {}, "mergePatch": True}}}
        docs = [line["captured"] for line in lines[:2]]
        assert [d["binding"] for d in docs] == [1, 1]
        assert [d["doc"]["id"] for d in docs] == [1, 2]
        for d in docs:
            meta = d["doc"]["_meta"]
            assert meta["op"] == "u"
            assert meta["reqPath"] == "/orders"
            assert meta["queryParams"] == {"page": "2"}
            assert meta["headers"]["X-Shop"] == "acme"
            assert meta["pathParams"] == {"path": "orders"}
            assert len(meta["webhookId"]) == 36
            assert meta["receivedAt"]

        # Written and checkpointed, but not acknowledged: the sender is still waiting.
        assert out.idle_for(0.3)
        assert not reply.done()
        ack(proc)
        status, body = reply.result(timeout=30)
        assert (status, json.loads(body)) == (200, {"published": 2})

        # Another path goes to the catch-all binding.
        reply = pool.submit(post, port, "/anything", b'{"id": 3}')
        lines = [json.loads(out.readline()) for _ in range(2)]
        assert lines[0]["captured"]["binding"] == 0
        ack(proc)
        assert reply.result(timeout=30)[0] == 200

        # Errors are answered at once and write nothing.
        assert post(port, "/orders", b"nope") == (400, b"Request body must be valid JSON")
        assert out.idle_for(0.2)

        # No more input: no acknowledgement can arrive, so the capture stops cleanly.
        assert proc.stdin is not None
        proc.stdin.close()
        assert proc.wait(timeout=30) == 0
        assert out.rest() == b""
        levels = [json.loads(line)["level"] for line in err.rest().decode().splitlines() if line.strip()]
        assert "ERROR" not in levels
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
        stop(proc)


def test_a_port_in_use_fails_the_capture_naming_the_port() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = start(port)
        assert proc.stdout is not None and proc.stderr is not None
        out, err = LineReader(proc.stdout.fileno()), LineReader(proc.stderr.fileno())
        try:
            open_session(proc, out, BINDINGS[:1])
            assert proc.wait(timeout=30) == 1
            records = [json.loads(line) for line in err.rest().decode().splitlines() if line.strip()]
            last = records[-1]
            assert last["level"] == "ERROR"
            assert last["msg"].startswith(
                f"Task webhook-server: webhook server could not listen on port {port} of 127.0.0.1: "
            )
            assert out.rest() == b""
        finally:
            stop(proc)


def test_discovery_offers_one_binding_per_route() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "webhook_connector"],
        input=json.dumps({"discover": {"connectorType": "IMAGE", "config": CONFIG}}).encode() + b"\n",
        capture_output=True,
        env=env(),
        cwd=TESTS_DIR,
        timeout=30,
    )
    assert proc.returncode == 0, proc.stderr
    bindings = json.loads(proc.stdout)["discovered"]["bindings"]
    assert [(b["recommendedName"], b["key"]) for b in bindings] == [
        ("hooks_all", ["/_meta/webhookId"]),
        ("hooks_orders", ["/_meta/webhookId"]),
    ]
    assert [b["resourceConfig"] for b in bindings] == [b["resourceConfig"] for b in BINDINGS]
    meta = bindings[0]["documentSchema"]["$defs"]["Meta"]
    assert {"webhookId", "receivedAt", "headers", "reqPath"} <= set(meta["required"])
