"""Acknowledgements that can no longer arrive: the Transactor fails its ACK waiters once the
runtime closed our input, the capture stops at once (exit 0 unless a real error happened), and a
webhook request waiting for such an ACK is answered 503. In process; servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterator
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from estuary_cdk import ConnectorError
from estuary_cdk.capture import BaseCaptureConnector, Request, Task, request, response
from estuary_cdk.capture.connector_status import ConnectorStatus
from estuary_cdk.capture.transactor import AcknowledgementsEnded, Transactor
from estuary_cdk.capture.webhook import WebhookCaptureSpec, build_webhook_app
from estuary_cdk.logger import FlowLogger, LogFormatter, init_logger
from pydantic import BaseModel

# -- the Transactor ----------------------------------------------------------------------------


async def written(out: io.BytesIO) -> bytes:
    return out.getvalue()  # An in-memory output is written inline.


async def test_ending_fails_every_waiter_with_its_checkpoint_number() -> None:
    out = io.BytesIO()
    transactor = Transactor(out, requires_explicit_acks=True)
    first = await transactor.commit(b"c1\n", wait_for_ack=True)
    second = await transactor.commit(b"c2\n", wait_for_ack=False)
    third = await transactor.commit(b"c3\n", wait_for_ack=True)
    fourth = await transactor.commit(b"c4\n", wait_for_ack=True)
    assert first is not None and second is None and third is not None and fourth is not None
    transactor.deliver_ack(1)
    assert first.done() and first.exception() is None

    assert transactor.end_acknowledgements() == 3
    assert transactor.acknowledgements_ended and transactor.pending_acks == 0
    assert transactor.unacknowledged == 3 and transactor.refused == 0
    for fut, number in ((third, 3), (fourth, 4)):
        with pytest.raises(AcknowledgementsEnded) as info:
            await fut
        assert isinstance(info.value, ConnectorError)
        assert info.value.checkpoint == number and info.value.written
        assert str(info.value) == (
            f"the runtime closed the input before acknowledging checkpoint {number}, "
            "so its documents may or may not be durable"
        )
    assert await written(out) == b"c1\nc2\nc3\nc4\n"


async def test_after_the_end_a_waiting_commit_fails_at_once_and_writes_nothing() -> None:
    out = io.BytesIO()
    transactor = Transactor(out, requires_explicit_acks=True)
    pending = await transactor.commit(b"c1\n", wait_for_ack=True)
    assert pending is not None
    transactor.end_acknowledgements()
    with pytest.raises(AcknowledgementsEnded):
        await pending

    with pytest.raises(AcknowledgementsEnded) as info:
        await transactor.commit(b"c2\n", wait_for_ack=True)
    assert info.value.checkpoint == 2 and not info.value.written
    assert str(info.value) == (
        "checkpoint 2 was not written: the runtime closed the input, so it could never be acknowledged"
    )
    # A commit that does not wait is still written, and counted as never acknowledged.
    assert await transactor.commit(b"c3\n", wait_for_ack=False) is None
    with pytest.raises(AcknowledgementsEnded) as info:
        await transactor.commit(b"c4\n", wait_for_ack=True)
    assert info.value.checkpoint == 4
    assert (transactor.unacknowledged, transactor.refused, transactor.pending_acks) == (2, 2, 0)
    assert await written(out) == b"c1\nc3\n"


async def test_ending_twice_changes_nothing_and_cancelled_waiters_stay_cancelled() -> None:
    transactor = Transactor(io.BytesIO(), requires_explicit_acks=True)
    cancelled = await transactor.commit(b"c1\n", wait_for_ack=True)
    waiting = await transactor.commit(b"c2\n", wait_for_ack=True)
    assert cancelled is not None and waiting is not None
    cancelled.cancel()
    assert transactor.end_acknowledgements() == 2
    assert cancelled.cancelled()
    error = waiting.exception()
    assert isinstance(error, AcknowledgementsEnded) and error.checkpoint == 2
    assert transactor.end_acknowledgements() == 0
    assert waiting.exception() is error and transactor.unacknowledged == 2


async def test_without_explicit_acks_ending_is_harmless() -> None:
    out = io.BytesIO()
    transactor = Transactor(out)
    assert transactor.end_acknowledgements() == 0
    assert await transactor.commit(b"c1\n") is None
    with pytest.raises(RuntimeError, match="requires_explicit_acks=True"):
        await transactor.commit(b"c2\n", wait_for_ack=True)
    assert transactor.unacknowledged == 0 and await written(out) == b"c1\n"


async def test_a_task_checkpoint_awaiting_its_ack_fails_when_acks_end() -> None:
    log = init_logger()
    stopping = Task.Stopping()
    status = ConnectorStatus(log, stopping)
    status.close()
    out = io.BytesIO()
    transactor = Transactor(out, requires_explicit_acks=True)
    async with asyncio.TaskGroup() as tg:
        task = Task(log, status, "capture", out, stopping, tg, transactor, requires_ack=True)
        task.captured(0, {"id": 1})
        checkpointing = asyncio.create_task(task.checkpoint({"cursor": 1}))
        for _ in range(100):
            if transactor.pending_acks:
                break
            await asyncio.sleep(0)
        assert not checkpointing.done()
        transactor.end_acknowledgements()
        with pytest.raises(AcknowledgementsEnded):
            await checkpointing
        with pytest.raises(AcknowledgementsEnded):
            await task.checkpoint({"cursor": 2})
    lines = (await written(out)).decode().splitlines()
    assert [next(iter(json.loads(line))) for line in lines] == ["captured", "checkpoint"]


def test_stopping_leaves_first_error_to_a_real_error() -> None:
    stopping = Task.Stopping()
    for error, name in ((AcknowledgementsEnded(1), "a"), (RuntimeError("boom"), "b"), (ValueError("x"), "c")):
        stopping.record_error(error, name)
    assert isinstance(stopping.first_error, RuntimeError) and stopping.first_error_task == "b"
    assert stopping.event.is_set()

    only_acks = Task.Stopping()
    only_acks.record_error(AcknowledgementsEnded(2), "a")
    assert only_acks.first_error is None and only_acks.first_error_task is None
    assert only_acks.event.is_set()


# -- the capture connector ---------------------------------------------------------------------


class Config(BaseModel):
    pass


class Resource(BaseModel):
    name: str


class State(BaseModel, extra="allow"):
    pass


Runner = Callable[[Task], Awaitable[None]]


class Connector(BaseCaptureConnector[Config, Resource, State]):
    def __init__(self, runner: Runner) -> None:
        self.runner = runner
        self.output = io.BytesIO()
        # Never reached by a passing test: the capture must stop without this timer.
        self.graceful_shutdown_timeout = timedelta(minutes=30)

    @classmethod
    def request_class(cls) -> type[Request[Config, Resource, State]]:
        return Request[Config, Resource, State]

    async def spec(self, log: Any, _: request.Spec) -> Any:
        raise NotImplementedError

    async def discover(self, log: Any, discover: Any) -> Any:
        raise NotImplementedError

    async def validate(self, log: Any, validate: Any) -> Any:
        raise NotImplementedError

    async def open(self, log: Any, open: request.Open[Config, Resource, State]) -> Any:
        return response.Opened(explicitAcknowledgements=True), self.runner


OPEN = {
    "open": {
        "capture": {"name": "acmeCo/acks", "config": {}, "intervalSeconds": 1, "bindings": []},
        "version": "v1",
        "state": {},
    }
}


def input_ending_when(connector: Connector, pending: int) -> Any:
    """Requests: `open`, then the end of the input once `pending` checkpoints await their ACK."""

    async def gen(cls: type[BaseModel]) -> AsyncGenerator[Any, None]:
        yield cls.model_validate(OPEN)
        for _ in range(10_000):
            session = connector._capture_session
            if session is not None and session.pending_acks >= pending:
                return
            await asyncio.sleep(0.001)
        raise AssertionError(f"never had {pending} checkpoint(s) awaiting an acknowledgement")

    return gen


async def serve(connector: Connector, log: FlowLogger, requests: Any) -> None:
    """Serve with a deadline far below the graceful-shutdown timer. Not `wait_for`: the
    SystemExit of a failed capture would escape the event loop from a task."""
    async with asyncio.timeout(10):
        await connector.serve(log, requests)


@pytest.fixture
def log_lines() -> Iterator[tuple[FlowLogger, io.StringIO]]:
    log = init_logger()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(LogFormatter())
    log.addHandler(handler)
    yield log, stream
    log.removeHandler(handler)


def records(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


async def test_a_child_awaiting_its_ack_ends_the_capture_cleanly(
    log_lines: tuple[FlowLogger, io.StringIO],
) -> None:
    log, stream = log_lines

    async def capture(task: Task) -> None:
        async def waiter(child: Task) -> None:
            child.captured(0, {"id": 1})
            await child.checkpoint({"cursor": 1})
            raise AssertionError("acknowledged although no acknowledgement was sent")

        task.spawn_child("waiter", waiter)

    connector = Connector(capture)
    await serve(connector, log, input_ending_when(connector, 1))

    lines = records(stream)
    last = lines[-1]
    assert last["level"] == "WARNING"
    assert last["msg"].startswith(
        "the runtime closed the input before acknowledging every checkpoint: "
        "1 written checkpoint(s) were left unacknowledged, so their documents may or may not be durable"
    )
    assert last["fields"]["args"] == {"unacknowledged": 1, "not_written": 0}
    assert any(r["msg"].startswith("input closed: no acknowledgement can arrive") for r in lines)
    out = connector.output.getvalue().decode().splitlines()  # type: ignore[attr-defined]
    assert [next(iter(json.loads(line))) for line in out] == ["opened", "captured", "checkpoint"]


async def test_a_real_error_after_the_input_closed_still_fails_the_capture_last(
    log_lines: tuple[FlowLogger, io.StringIO],
) -> None:
    log, stream = log_lines

    async def capture(task: Task) -> None:
        async def waiter(child: Task) -> None:
            await child.checkpoint({"cursor": 1})

        async def late(child: Task) -> None:
            await child.stopping.event.wait()
            assert child.transactor.acknowledgements_ended
            # Fail only once the waiter recorded its failure, so ours comes second.
            for _ in range(20):
                await asyncio.sleep(0)
            raise RuntimeError("boom while stopping")

        task.spawn_child("waiter", waiter)
        task.spawn_child("late", late)

    connector = Connector(capture)
    with pytest.raises(SystemExit) as info:
        await serve(connector, log, input_ending_when(connector, 1))
    assert info.value.code == 1
    lines = records(stream)
    assert lines[-1]["level"] == "ERROR"
    assert lines[-1]["msg"] == "Task capture.late: boom while stopping"
    assert lines[-2]["level"] == "WARNING" and "1 written checkpoint(s)" in lines[-2]["msg"]


async def test_the_root_runner_awaiting_its_ack_lets_its_children_finish(
    log_lines: tuple[FlowLogger, io.StringIO],
) -> None:
    log, stream = log_lines
    finished: list[str] = []

    async def capture(task: Task) -> None:
        async def polite(child: Task) -> None:
            await child.stopping.event.wait()
            finished.append(child.name)

        task.spawn_child("polite", polite)
        await task.checkpoint({"initialized": True})
        raise AssertionError("acknowledged although no acknowledgement was sent")

    connector = Connector(capture)
    await serve(connector, log, input_ending_when(connector, 1))
    assert finished == ["capture.polite"]
    lines = records(stream)
    assert lines[-1]["level"] == "WARNING" and "1 written checkpoint(s)" in lines[-1]["msg"]
    assert "ERROR" not in {r["level"] for r in lines}


async def test_an_input_that_ends_before_the_session_started_stops_it_too(
    log_lines: tuple[FlowLogger, io.StringIO],
) -> None:
    log, stream = log_lines

    async def capture(task: Task) -> None:
        task.captured(0, {"id": 1})
        await task.checkpoint({"cursor": 1})
        raise AssertionError("a checkpoint was accepted after the input closed")

    async def only_open(cls: type[BaseModel]) -> AsyncGenerator[Any, None]:
        # The input ends while `open` is still being handled.
        yield cls.model_validate(OPEN)

    connector = Connector(capture)
    await serve(connector, log, only_open)
    assert connector.output.getvalue() == b'{"opened":{"explicitAcknowledgements":true}}\n'  # type: ignore[attr-defined]
    last = records(stream)[-1]
    assert last["level"] == "WARNING"
    assert "1 checkpoint(s) were not written" in last["msg"]
    assert last["fields"]["args"] == {"unacknowledged": 0, "not_written": 1}


async def test_a_capture_whose_checkpoints_were_all_acknowledged_says_nothing(
    log_lines: tuple[FlowLogger, io.StringIO],
) -> None:
    log, stream = log_lines

    async def capture(task: Task) -> None:
        await task.checkpoint({"cursor": 1})
        await task.stopping.event.wait()

    connector = Connector(capture)

    async def acknowledging(cls: type[BaseModel]) -> AsyncGenerator[Any, None]:
        async for item in input_ending_when(connector, 1)(cls):
            yield item
        yield cls.model_validate({"acknowledge": {"checkpoints": 1}})

    await serve(connector, log, acknowledging)
    assert {r["level"] for r in records(stream)} == {"INFO"}


# -- the webhook server ------------------------------------------------------------------------


async def test_a_webhook_request_awaiting_its_ack_is_answered_503_and_later_ones_at_once() -> None:
    log = init_logger()
    stopping = Task.Stopping()
    status = ConnectorStatus(log, stopping)
    status.close()
    out = io.BytesIO()
    transactor = Transactor(out, requires_explicit_acks=True)
    async with asyncio.TaskGroup() as tg:
        task = Task(log, status, "capture", out, stopping, tg, transactor, "acmeCo/hooks", requires_ack=True)
        mapping: dict[int, Any] = dict(enumerate(WebhookCaptureSpec(name="all").create_resources()))
        server = TestServer(build_webhook_app(mapping, task), host="127.0.0.1")
        await server.start_server()
        try:
            async with aiohttp.ClientSession() as http:
                url = f"http://127.0.0.1:{server.port}/orders"

                async def post() -> tuple[int, str]:
                    async with http.post(url, json={"id": 1}) as resp:
                        return resp.status, await resp.text()

                waiting = asyncio.create_task(post())
                for _ in range(10_000):
                    if transactor.pending_acks:
                        break
                    await asyncio.sleep(0.001)
                assert transactor.pending_acks == 1 and not waiting.done()
                transactor.end_acknowledgements()
                status_code, text = await asyncio.wait_for(waiting, 10)
                assert status_code == 503
                assert text == (
                    "Server shutting down: the runtime closed the input before acknowledging "
                    "checkpoint 1, so its documents may or may not be durable; retry the request"
                )
                assert await asyncio.wait_for(post(), 10) == (503, "Server shutting down")
        finally:
            await server.close()
    # Only the first request was written; the second was refused before capturing anything.
    lines = (await written(out)).decode().splitlines()
    assert [next(iter(json.loads(line))) for line in lines] == ["captured", "checkpoint"]
