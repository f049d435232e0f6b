"""A capture with explicit acknowledgements whose input closes while a checkpoint awaits its
acknowledgement: as a real subprocess (the example and the webhook connectors), it exits within
seconds (not after the 30-minute graceful-shutdown timer) with exit code 0, and its last log line
is a WARNING saying checkpoints were left unacknowledged. A webhook request waiting for such an
acknowledgement is answered 503, so its sender retries."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from http.client import HTTPConnection
from pathlib import Path
from typing import Any

from pipe_lines import LineReader

TESTS_DIR = Path(__file__).parent
PROMPTLY = 10.0
"""Seconds within which the process must exit once its input closed (the timer it must not
wait for is 30 minutes)."""
UNACKNOWLEDGED = (
    "the runtime closed the input before acknowledging every checkpoint: "
    "1 written checkpoint(s) were left unacknowledged, so their documents may or may not be durable"
)


class Session:
    def __init__(self, module: str, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", module],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(TESTS_DIR), "LOG_LEVEL": "info", **env},
            cwd=TESTS_DIR,
        )
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self.out = LineReader(self.proc.stdout.fileno())
        self.err = LineReader(self.proc.stderr.fileno())

    def send(self, message: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(message).encode() + b"\n")
        self.proc.stdin.flush()

    def ack(self) -> None:
        self.send({"acknowledge": {"checkpoints": 1}})

    def close_input_and_wait(self) -> tuple[int, float]:
        """Close stdin; the exit code and how long the process took to exit."""
        assert self.proc.stdin is not None
        started = time.monotonic()
        self.proc.stdin.close()
        code = self.proc.wait(timeout=PROMPTLY)
        return code, time.monotonic() - started

    def logs(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.err.rest().decode().splitlines() if line.strip()]

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()


def assert_ended_with_unacknowledged_warning(records: list[dict[str, Any]]) -> None:
    last = records[-1]
    assert last["level"] == "WARNING", last
    assert last["msg"].startswith(UNACKNOWLEDGED)
    assert last["fields"]["args"] == {"unacknowledged": 1, "not_written": 0}
    # A closed input is a shutdown: nothing on the way is logged as an error.
    assert "ERROR" not in {r["level"] for r in records}, [r for r in records if r["level"] == "ERROR"]


# -- the example (pull) connector --------------------------------------------------------------

EVENTS = {
    "collection": {"name": "acmeCo/events", "key": ["/id"], "writeSchema": {}},
    "resourceConfig": {"name": "events"},
    "resourcePath": ["events"],
    "stateKey": "events",
    "backfill": 0,
}
OPEN_EVENTS = {
    "open": {
        "capture": {
            "name": "acmeCo/example",
            "connectorType": "IMAGE",
            "config": {"token": "example-secret-token", "explicit_acks": True, "items": 4},
            "intervalSeconds": 300,
            "bindings": [EVENTS],
        },
        "version": "v1",
        "range": {"keyBegin": 0, "keyEnd": 4294967295, "rClockBegin": 0, "rClockEnd": 4294967295},
        "state": {},
    }
}


def example_session() -> Session:
    session = Session("example_connector", {"EXAMPLE_CONNECTOR_NOW": "2025-06-01T12:00:00Z"})
    session.send(OPEN_EVENTS)
    assert session.out.readline() == '{"opened":{"explicitAcknowledgements":true}}'
    init = json.loads(session.out.readline())
    assert list(init["checkpoint"]["state"]["updated"]["bindingStateV1"]["events"]) == [
        "backfill",
        "last_initialized",
    ]
    return session


def test_closing_the_input_while_the_initial_checkpoint_awaits_its_ack_exits_0_promptly() -> None:
    session = example_session()
    try:
        code, took = session.close_input_and_wait()
        assert code == 0 and took < PROMPTLY
        assert session.out.rest() == b""
        records = session.logs()
        assert_ended_with_unacknowledged_warning(records)
        assert "ERROR" not in {r["level"] for r in records}
    finally:
        session.kill()


def test_closing_the_input_while_a_backfill_page_awaits_its_ack_exits_0_promptly() -> None:
    session = example_session()
    try:
        session.ack()
        page = [json.loads(session.out.readline()) for _ in range(3)]
        assert [line["captured"]["doc"]["id"] for line in page[:2]] == [1, 2]
        assert page[2]["checkpoint"]["state"]["updated"] == {
            "bindingStateV1": {"events": {"backfill": {"cutoff": 0, "next_page": 2}}}
        }
        code, took = session.close_input_and_wait()
        assert code == 0 and took < PROMPTLY
        # The backfill did not go on to page 2: its checkpoint could never be acknowledged.
        assert session.out.rest() == b""
        assert_ended_with_unacknowledged_warning(session.logs())
    finally:
        session.kill()


# -- the webhook (push) connector --------------------------------------------------------------

HOOKS = {
    "collection": {"name": "acmeCo/hooks", "key": ["/_meta/webhookId"], "writeSchema": {}},
    "resourceConfig": {"name": "hooks", "match_rule": {"type": "url", "value": "*"}},
    "resourcePath": ["hooks"],
    "stateKey": "hooks",
    "backfill": 0,
}
OPEN_HOOKS = {
    "open": {
        "capture": {
            "name": "acmeCo/webhooks",
            "connectorType": "IMAGE",
            "config": {"webhooks": {"name": "hooks"}},
            "intervalSeconds": 300,
            "bindings": [HOOKS],
        },
        "version": "v1",
        "range": {"keyBegin": 0, "keyEnd": 4294967295, "rClockBegin": 0, "rClockEnd": 4294967295},
        "state": {},
    }
}


def post(port: int, body: bytes) -> tuple[int, str]:
    conn = HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("POST", "/orders", body=body, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        return resp.status, resp.read().decode()
    finally:
        conn.close()


def test_a_webhook_request_awaiting_its_ack_gets_503_when_the_input_closes() -> None:
    session = Session(
        "webhook_connector", {"ESTUARY_CDK_WEBHOOK_HOST": "127.0.0.1", "ESTUARY_CDK_WEBHOOK_PORT": "0"}
    )
    pool = ThreadPoolExecutor(max_workers=1)
    try:
        session.send(OPEN_HOOKS)
        assert session.out.readline() == '{"opened":{"explicitAcknowledgements":true}}'
        assert "checkpoint" in json.loads(session.out.readline())
        session.ack()
        while True:
            record = json.loads(session.err.readline())
            if record["msg"] == "Webhook server listening":
                port = int(record["fields"]["args"]["port"])
                break

        reply = pool.submit(post, port, b'{"id": 1}')
        captured, checkpoint = (json.loads(session.out.readline()) for _ in range(2))
        assert captured["captured"]["doc"]["id"] == 1
        assert checkpoint == {"checkpoint": {"state": {"updated": {}, "mergePatch": True}}}
        assert not reply.done()

        started = time.monotonic()
        code, _ = session.close_input_and_wait()
        status, text = reply.result(timeout=PROMPTLY)
        assert time.monotonic() - started < PROMPTLY
        assert status == 503
        assert text == (
            "Server shutting down: the runtime closed the input before acknowledging checkpoint 2, "
            "so its documents may or may not be durable; retry the request"
        )
        assert code == 0
        assert session.out.rest() == b""
        records = session.logs()
        assert_ended_with_unacknowledged_warning(records)
        assert "ERROR" not in {r["level"] for r in records}
        warned = [r for r in records if r["msg"].startswith("webhook request not acknowledged")]
        assert len(warned) == 1 and warned[0]["fields"]["args"] == {"path": "/orders"}
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
        session.kill()
