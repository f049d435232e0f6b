"""JSON log lines (and the text formats for people), levels, events and secret redaction."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from datetime import timedelta

import orjson
import pytest
from estuary_cdk.flow import AccessToken, BaseOAuth2Credentials
from estuary_cdk.logger import (
    FlowLogger,
    LogFormatter,
    OpsLog,
    TextLogFormatter,
    init_logger,
    register_secret,
    register_secrets_in,
)
from pydantic import BaseModel, Field


@pytest.fixture
def captured() -> Iterator[tuple[FlowLogger, io.StringIO]]:
    log = init_logger()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(LogFormatter())
    log.addHandler(handler)
    log.propagate = False
    old_level = log.level
    log.setLevel(logging.DEBUG)
    try:
        yield log, stream
    finally:
        log.removeHandler(handler)
        log.propagate = True
        log.setLevel(old_level)


def records(stream: io.StringIO) -> list[dict]:
    return [orjson.loads(line) for line in stream.getvalue().splitlines()]


def test_line_shape_args_extra_source_and_file(captured: tuple[FlowLogger, io.StringIO]) -> None:
    log, stream = captured
    log.getChild("capture").warning("with extra", {"a": 1, "d": timedelta(seconds=1)}, extra={"b": 2})
    (line,) = stream.getvalue().splitlines()
    rec = orjson.loads(line)
    assert list(rec) == ["level", "msg", "fields"]
    assert rec["level"] == "WARNING" and rec["msg"] == "with extra"
    assert list(rec["fields"]) == ["b", "args", "source", "file"]
    assert rec["fields"]["args"] == {"a": 1, "d": "PT1S"}
    assert rec["fields"]["source"] == "flow.capture"
    assert rec["fields"]["file"].endswith("test_core_logger.py:" + rec["fields"]["file"].rsplit(":", 1)[1])
    OpsLog.model_validate(rec)


def test_exception_traceback_is_a_list_of_lines(captured: tuple[FlowLogger, io.StringIO]) -> None:
    log, stream = captured
    try:
        1 / 0  # noqa: B018
    except ZeroDivisionError:
        log.error("failed", exc_info=True)
    rec = records(stream)[0]
    assert rec["msg"] == "failed"
    assert rec["fields"]["traceback"][0] == "Traceback (most recent call last):"
    assert rec["fields"]["traceback"][-1] == "ZeroDivisionError: division by zero"


def test_events(captured: tuple[FlowLogger, io.StringIO]) -> None:
    log, stream = captured
    log.event.status("Capture started.")
    log.event.config_update("Rotated", {"a_sops": "ENC[...]"})
    status, update = records(stream)
    assert status["level"] == "INFO" and status["fields"]["eventType"] == "connectorStatus"
    assert status["fields"]["file"].split(":")[0].endswith("test_core_logger.py")
    assert update["fields"]["eventType"] == "configUpdate"
    assert update["fields"]["config"] == {"a_sops": "ENC[...]"}


def test_registered_secrets_are_redacted_everywhere(captured: tuple[FlowLogger, io.StringIO]) -> None:
    log, stream = captured
    register_secret("hunter2-very-secret")
    register_secret("")  # ignored
    register_secret("t")  # too short to redact
    register_secret("    ")  # blank
    log.info(
        "token hunter2-very-secret leaked",
        {"nested": ["x hunter2-very-secret y"]},
        extra={"k": "hunter2-very-secret"},
    )
    rec = records(stream)[0]
    text = stream.getvalue()
    assert "hunter2-very-secret" not in text
    assert rec["msg"] == "token [redacted] leaked"
    assert rec["level"] == "INFO" and rec["fields"]["source"] == "flow"
    assert rec["fields"]["args"] == {"nested": ["x [redacted] y"]}
    assert rec["fields"]["k"] == "[redacted]"


def test_secret_fields_of_configs_are_registered(captured: tuple[FlowLogger, io.StringIO]) -> None:
    log, stream = captured
    OAuth = BaseOAuth2Credentials.for_provider("acme")

    class Config(BaseModel):
        api_key: str = Field(json_schema_extra={"secret": True})
        plain: str
        creds: AccessToken | None = None
        oauth: OAuth | None = None  # type: ignore[valid-type]

    config = Config(
        api_key="key-111111",
        plain="visible-222",
        creds=AccessToken(access_token="tok-333333"),
        oauth=OAuth(client_id="cid-444444", client_secret="cs-555555", refresh_token="rt-666666"),
    )
    register_secrets_in(config)
    log.info("values key-111111 visible-222 tok-333333 cid-444444 cs-555555 rt-666666")
    assert (
        records(stream)[0]["msg"]
        == "values [redacted] visible-222 [redacted] [redacted] [redacted] [redacted]"
    )


@pytest.mark.parametrize(
    ("env", "level"),
    [
        ("debug", logging.DEBUG),
        ("warn", logging.WARNING),
        ("trace", logging.DEBUG),
        ("ERROR", logging.ERROR),
        ("bogus", logging.INFO),
    ],
)
def test_log_level_from_env(monkeypatch: pytest.MonkeyPatch, env: str, level: int) -> None:
    monkeypatch.setenv("LOG_LEVEL", env)
    log = init_logger()
    try:
        assert log.level == level
    finally:
        monkeypatch.delenv("LOG_LEVEL")
        init_logger()


def test_bad_format_args_keep_the_template() -> None:
    record = logging.LogRecord("flow", logging.INFO, "f.py", 3, "50%d done %s", ("x",), None)
    line = orjson.loads(LogFormatter().format(record))
    assert line["msg"] == "50%d done %s"
    assert line["fields"]["file"] == "f.py:3"


def _log_with_traceback(log: logging.Logger) -> None:
    try:
        1 / 0  # noqa: B018
    except ZeroDivisionError:
        log.error("fetch failed", {"page": 3}, exc_info=True)


@pytest.mark.parametrize("log_format", ["text", "color", "TEXT"])
def test_text_formats_show_a_traceback_as_lines(monkeypatch: pytest.MonkeyPatch, log_format: str) -> None:
    monkeypatch.setenv("LOG_FORMAT", log_format)
    stream = io.StringIO()
    log = init_logger()
    (handler,) = [h for h in logging.getLogger().handlers if getattr(h, "_flow_handler", False)]
    monkeypatch.setattr(handler, "stream", stream)
    try:
        _log_with_traceback(log.getChild("capture"))
    finally:
        monkeypatch.delenv("LOG_FORMAT")
        init_logger()
    lines = stream.getvalue().splitlines()
    assert "flow.capture: fetch failed" in lines[0]
    assert '{"args":{"page":3}}' in lines[0]
    assert lines[1] == "Traceback (most recent call last):"
    assert lines[-1] == "ZeroDivisionError: division by zero"
    assert any(line.startswith('  File "') for line in lines)
    assert ("\x1b[31mERROR\x1b[0m" in lines[0]) == (log_format == "color")


@pytest.mark.parametrize("log_format", [None, "json", "bogus"])
def test_json_keeps_a_traceback_inside_its_one_line(
    monkeypatch: pytest.MonkeyPatch, log_format: str | None
) -> None:
    if log_format is not None:
        monkeypatch.setenv("LOG_FORMAT", log_format)
    else:
        monkeypatch.delenv("LOG_FORMAT", raising=False)
    stream = io.StringIO()
    log = init_logger()
    (handler,) = [h for h in logging.getLogger().handlers if getattr(h, "_flow_handler", False)]
    monkeypatch.setattr(handler, "stream", stream)
    try:
        _log_with_traceback(log)
    finally:
        monkeypatch.delenv("LOG_FORMAT", raising=False)
        init_logger()
    (line,) = stream.getvalue().splitlines()
    rec = orjson.loads(line)
    assert rec["msg"] == "fetch failed"
    assert rec["fields"]["traceback"][-1] == "ZeroDivisionError: division by zero"


def test_text_format_redacts_secrets_and_shows_stacks() -> None:
    register_secret("hunter2-hunter2")
    record = logging.LogRecord(
        "flow.x", logging.WARNING, "f.py", 3, "token hunter2-hunter2", ({"t": "hunter2-hunter2"},), None
    )
    record.stack_info = "Stack (most recent call last):\n  File x"
    lines = TextLogFormatter().format(record).split("\n")
    assert lines[0].endswith('WARNING flow.x: token [redacted] {"args":{"t":"[redacted]"}}')
    assert lines[1:] == ["Stack (most recent call last):", "  File x"]
