"""What preview says while a capture runs and when it stops (issue 12, items 3 and 4): progress
per transaction with backfill progress, what a session waits for and until when, the summary
(also after SIGTERM, with the final state line), and --until-caught-up."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from flowctl.capture_state import BindingView
from flowctl.logs import OpsLog
from flowctl.preview_watch import WAIT_NOTICE_AFTER, PreviewWatch

from .conftest import FIXTURES, run_flowctl

QUIET = FIXTURES / "quiet_connector.py"


def quiet_catalog(tmp_path: Path, config: dict[str, Any], interval: str = "PT5M") -> Path:
    schema = {"type": "object", "properties": {"id": {"type": "integer"}}, "required": ["id"]}
    capture = {
        "endpoint": {"local": {"command": [sys.executable, str(QUIET)], "config": config}},
        "bindings": [{"resource": {"name": "users", "interval": interval}, "target": "acmeCo/users"}],
    }
    path = tmp_path / "flow.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "collections": {"acmeCo/users": {"schema": schema, "key": ["/id"]}},
                "captures": {"acmeCo/q": capture},
            }
        )
    )
    return path


def test_until_caught_up_stops_once_the_backfill_is_done_and_the_connector_is_quiet(tmp_path: Path) -> None:
    source = quiet_catalog(tmp_path, {"kit_state": True, "pages": 2})
    started = time.monotonic()
    res = run_flowctl(
        "preview", "--source", str(source), "--until-caught-up", "--caught-up-idle", "1s", timeout=30
    )
    assert res.code == 0, res.stderr
    assert time.monotonic() - started < 20  # the connector itself never ends
    assert [doc["id"] for _, doc in res.lines()] == [1, 2]  # stdout: documents only
    assert "backfill: acmeCo/users done" in res.stderr
    assert re.search(
        r"preview: transaction 1 of session 1: \d+ documents? .*from \d+ checkpoints?; ", res.stderr
    )
    summary = res.stderr[res.stderr.index("preview summary:") :]
    assert summary.startswith("preview summary: 2 documents (acmeCo/users: 2); 3 checkpoints in ")
    assert "1 session; " in summary and "; caught up" in summary
    assert "acmeCo/users: backfill done; cursor " in summary


def test_a_resumed_caught_up_capture_that_commits_nothing_is_caught_up(tmp_path: Path) -> None:
    """Resumed from the state of a capture that was caught up, a connector whose incremental fetch
    finds nothing and whose snapshots are unchanged commits no transaction at all; it is caught
    up once quiet since its Opened (before, preview waited for a transaction that never came:
    the crash/resume harness found it). A state without the binding is not caught up."""
    source = quiet_catalog(tmp_path, {"kit_state": True})
    done = {"bindingStateV1": {"users": {"inc": {"cursor": "2026-01-01T00:00:00Z"}}}}
    started = time.monotonic()
    res = run_flowctl(
        "preview", "--source", str(source), "--until-caught-up", "--caught-up-idle", "1s",
        "--initial-state", json.dumps(done), "--timeout", "20s", timeout=40,
    )  # fmt: skip
    assert res.code == 0, res.stderr
    assert time.monotonic() - started < 15, res.stderr
    assert res.lines() == []
    assert "; caught up" in res.stderr[res.stderr.index("preview summary:") :]


def test_a_resumed_state_counts_as_caught_up_only_when_it_holds_every_binding() -> None:
    """Without a transaction, caught up needs the connector's Opened and every binding's state
    present with no backfill in progress; quiet is counted from Opened, not from the start."""
    views = [
        BindingView("acmeCo/items", "items", 300.0, "PT5M"),
        BindingView("acmeCo/kinds", "kinds", 60.0, "PT1M"),
    ]
    items = {"inc": {"cursor": "2026-01-01T00:00:00Z"}}
    for state, expected in (
        ({"bindingStateV1": {"items": items}}, False),  # kinds has never run
        (
            {
                "bindingStateV1": {
                    "items": {**items, "backfill": {"cutoff": "2026-01-01T00:00:00Z", "next_page": 2}},
                    "kinds": {},
                }
            },
            False,
        ),
        ({"bindingStateV1": {"items": items, "kinds": {"snapshot": {"last_count": 1}}}}, True),
    ):
        watch = PreviewWatch(views, [].append, until_caught_up=True, caught_up_idle=0.05)
        watch.session_opened(1, state)
        time.sleep(0.1)
        assert not watch.caught_up()  # the connector has not answered Opened yet
        watch.connector_opened()
        assert not watch.caught_up()  # quiet since Opened, not since the start
        time.sleep(0.1)
        assert watch.caught_up() is expected, state


def test_a_run_that_ends_mid_backfill_says_it_is_not_caught_up(tmp_path: Path) -> None:
    source = quiet_catalog(tmp_path, {"kit_state": True, "pages": 2, "finish": False})
    res = run_flowctl("preview", "--source", str(source), "--timeout", "1s", "--until-caught-up")
    assert res.code == 0, res.stderr
    assert "backfill: acmeCo/users next page 2" in res.stderr
    assert "the last session ended: --timeout passed without a transaction" in res.stderr
    assert "acmeCo/users: backfill IN PROGRESS (next page 2)" in res.stderr
    assert "not caught up: the backfill of acmeCo/users is still in progress" in res.stderr


def test_the_next_session_says_when_the_connector_polls_next(tmp_path: Path) -> None:
    """The issue's `--sessions 1,2` that looked hung: the kit waits until its cursor is an
    interval old before polling again, and preview now says so when the session opens."""
    source = quiet_catalog(tmp_path, {"kit_state": True, "pages": 1})
    res = run_flowctl(
        "preview", "--source", str(source), "--sessions", "1,1", "--delay", "1s", "--timeout", "1s"
    )
    assert res.code == 0, res.stderr
    assert (
        "preview: session 1 ended after 1 transaction: it committed its 1 transactions (--sessions). The next "
        "session starts now (Flow would wait until the capture's interval, 5m00s, has passed" in res.stderr
    )
    assert re.search(
        r"preview: session 2 opened; by the connector's schedule: next poll of acmeCo/users at "
        r"~\d\d:\d\d:\d\dZ \(in 4m5\ds; interval PT5M\)",
        res.stderr,
    ), res.stderr


def test_sigterm_prints_the_final_state_and_the_summary(tmp_path: Path) -> None:
    source = quiet_catalog(tmp_path, {})
    proc = subprocess.Popen(
        [sys.executable, "-m", "flowctl", "preview", "--source", str(source), "--output-state"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline()  # the first transaction's document: the session is running
    assert json.loads(first)[0] == "acmeCo/users"
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert out.splitlines()[-1] == '["connectorState",{"updated":{}}]'
    assert "preview: stopping (SIGTERM)" in err
    assert "preview summary: 1 document (acmeCo/users: 1); 1 checkpoint in 1 transaction, 1 session;" in err
    assert "stopped by SIGTERM" in err


def test_the_waiting_notice_names_each_bindings_next_poll_and_the_sessions_end() -> None:
    logs: list[OpsLog] = []
    view = BindingView("acmeCo/items", "items", 300.0, "PT5M")
    snap = BindingView("acmeCo/kinds", "kinds", 3600.0, "PT1H")
    watch = PreviewWatch([view, snap], logs.append, until_caught_up=True)
    cursor = (datetime.now(tz=UTC) - timedelta(seconds=6)).isoformat()
    snapshot_at = (datetime.now(tz=UTC) - timedelta(minutes=1)).isoformat()
    state = {
        "bindingStateV1": {
            "items": {"inc": {"cursor": cursor}},
            "kinds": {"snapshot": {"updated_at": snapshot_at, "last_count": 3, "last_digest": "x"}},
        }
    }
    watch.session_opened(1, state)
    watch.begin_wait()
    watch.idle(None)
    assert logs[-1].message.startswith("preview: session 1 opened")  # no notice before 5s
    watch._wait_from -= WAIT_NOTICE_AFTER  # as if 5s had passed
    watch.idle(time.monotonic() + 30)
    notice = logs[-1].message
    assert notice.startswith("preview: waiting for the connector's next checkpoint (none for 5s): ")
    assert re.search(r"next poll of acmeCo/items at ~\S+Z \(in 4m5\ds; interval PT5M\)", notice), notice
    assert re.search(r"next snapshot of acmeCo/kinds at ~\S+Z \(in 59m\d\ds; interval PT1H\)", notice), notice
    assert re.search(
        r"The session ends when the connector exits, at --timeout \(\S+Z\), once caught up", notice
    )
    watch.idle(None)
    assert logs[-1].message == notice  # the next notice is due a minute later


def test_until_caught_up_is_for_captures_only(tmp_path: Path) -> None:
    source = quiet_catalog(tmp_path, {})
    res = run_flowctl("preview", "--source", str(source), "--fixture", "-", "--until-caught-up")
    assert res.code == 2
    assert "--until-caught-up is for captures: a --fixture run ends with its fixture" in res.stderr


def test_a_snapshot_binding_is_not_caught_up_before_its_first_pass_commits() -> None:
    """The kit initializes a snapshot binding's state at open, then commits its first pass when
    the listing is read: a slow listing (waiting on a rate limit behind other bindings) used to
    let preview call the capture caught up without it. A binding keyed otherwise is not held."""
    logs: list[OpsLog] = []
    items = BindingView("acmeCo/items", "items", 0.0, "")
    kinds = BindingView("acmeCo/kinds", "kinds", 300.0, "PT5M", keyed_by_row=True)
    hooks = BindingView("acmeCo/hooks", "hooks", 0.0, "")  # e.g. webhooks: bookkeeping only, ever
    watch = PreviewWatch([items, kinds, hooks], logs.append, until_caught_up=True, caught_up_idle=0.0)
    opened = {"last_initialized": "2026-12-03T00:00:00Z"}
    state: dict[str, Any] = {
        "bindingStateV1": {
            "items": {"inc": {"cursor": "2026-12-03T00:00:00Z"}},
            "kinds": opened,
            "hooks": opened,
        }
    }
    watch.session_opened(1, state)
    watch.transaction([3, 0, 0], 1, state, state)
    assert not watch.backfills_done() and not watch.caught_up()
    watch._wait_from = time.monotonic() - WAIT_NOTICE_AFTER
    watch.idle(time.monotonic() + 30)
    assert "acmeCo/kinds is taking its first snapshot" in logs[-1].message
    passed = {
        "bindingStateV1": {"kinds": {"snapshot": {"updated_at": "2026-12-03T00:00:01Z", "last_count": 2}}}
    }
    state["bindingStateV1"]["kinds"] = {**opened, **passed["bindingStateV1"]["kinds"]}
    watch.transaction([0, 2, 0], 1, state, passed)
    assert watch.backfills_done() and watch.caught_up()
