"""Task emission, digests, buffering, child tasks, acknowledgements."""

from __future__ import annotations

import asyncio
import io
import logging
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import orjson
import pytest
import xxhash
from estuary_cdk.capture.connector_status import ConnectorStatus
from estuary_cdk.capture.document import AssociatedDocument, BaseDocument, set_document_meta
from estuary_cdk.capture.task import MultipleWritersTask, Task, dumps_document, with_sourced_schema_defaults
from estuary_cdk.capture.transactor import AcknowledgementProtocolError, Transactor
from estuary_cdk.logger import init_logger
from pydantic import BaseModel


class State(BaseModel, extra="allow"):
    cursor: int | None = None


class Item(BaseDocument):
    id: int
    at: datetime


def make_task(tg: asyncio.TaskGroup, output: io.BytesIO, *, acks: bool = False, cls: type[Any] = Task) -> Any:
    log = init_logger()
    stopping = Task.Stopping()
    status = ConnectorStatus(log, stopping)
    status.close()
    transactor = Transactor(output, requires_explicit_acks=acks)
    return cls(log, status, "capture", output, stopping, tg, transactor, "acmeCo/test", requires_ack=acks)


def lines(output: io.BytesIO) -> list[str]:
    return output.getvalue().decode().splitlines()


async def test_captured_lines_are_written_only_with_the_checkpoint() -> None:
    out = io.BytesIO()
    async with asyncio.TaskGroup() as tg:
        task = make_task(tg, out)
        task.captured(0, {"id": 1})
        task.captured(2, Item(id=2, at=datetime(2025, 1, 1, tzinfo=UTC)))
        assert out.getvalue() == b""
        await task.checkpoint(State(cursor=2))
    assert lines(out) == [
        '{"captured":{"binding":0,"doc":{"id":1}}}',
        '{"captured":{"binding":2,"doc":{"id":2,"at":"2025-01-01T00:00:00Z"}}}',
        '{"checkpoint":{"state":{"updated":{"cursor":2},"mergePatch":true}}}',
    ]


async def test_checkpoint_state_is_exclude_unset_with_explicit_nulls_and_replace_mode() -> None:
    out = io.BytesIO()
    async with asyncio.TaskGroup() as tg:
        task = make_task(tg, out)
        await task.checkpoint(State())
        await task.checkpoint(State(cursor=None))
        await task.checkpoint({"a": {"b": None}}, merge_patch=False)
    assert lines(out) == [
        '{"checkpoint":{"state":{"updated":{},"mergePatch":true}}}',
        '{"checkpoint":{"state":{"updated":{"cursor":null},"mergePatch":true}}}',
        '{"checkpoint":{"state":{"updated":{"a":{"b":null}},"mergePatch":false}}}',
    ]


@pytest.mark.parametrize(
    "value",
    [
        datetime(2025, 1, 1, tzinfo=UTC),
        datetime(2025, 1, 1, 12, 30, 5, 123456, tzinfo=UTC),
        datetime(2025, 1, 1, tzinfo=timezone(timedelta(hours=2))),
        datetime(2025, 1, 1, 1, 2, 3),
        Decimal("1.50"),
        timedelta(minutes=5),
    ],
)
def test_dict_and_model_documents_serialize_values_identically(value: Any) -> None:
    class Doc(BaseDocument):
        v: Any

    assert dumps_document({"v": value}) == dumps_document(Doc(v=value))


def test_utc_datetimes_use_z_in_dicts() -> None:
    assert dumps_document({"at": datetime(2025, 1, 1, tzinfo=UTC)}) == b'{"at":"2025-01-01T00:00:00Z"}'


def test_meta_is_emitted_as_underscore_meta_for_dicts_and_models() -> None:
    doc = set_document_meta({"name": "b"}, "c", 1)
    assert dumps_document(doc) == b'{"name":"b","_meta":{"op":"c","row_id":1}}'
    model = set_document_meta(Item(id=1, at=datetime(2025, 1, 1, tzinfo=UTC)), "d")
    assert dumps_document(model) == b'{"_meta":{"op":"d"},"id":1,"at":"2025-01-01T00:00:00Z"}'
    # Without an explicitly set _meta, nothing is emitted (exclude-unset), and never `meta_`.
    assert dumps_document(Item(id=1, at=datetime(2025, 1, 1, tzinfo=UTC))) == (
        b'{"id":1,"at":"2025-01-01T00:00:00Z"}'
    )
    tombstone = Item.model_construct(_meta=Item.Meta(op="d"))
    tombstone.meta_ = Item.Meta(op="d")
    assert dumps_document(tombstone) == b'{"_meta":{"op":"d"}}'


def test_set_document_meta_never_changes_a_shared_meta() -> None:
    shared = Item.Meta(op="c")
    first = set_document_meta(Item(id=1, at=datetime(2025, 1, 1, tzinfo=UTC), _meta=shared), "d", 7)
    assert first.meta_.op == "d" and first.meta_.row_id == 7
    assert shared.op == "c" and shared.row_id == -1
    shared_dict = {"store": "s1"}
    doc = set_document_meta({"_meta": shared_dict}, "u", 0)
    assert doc["_meta"] == {"store": "s1", "op": "u", "row_id": 0} and shared_dict == {"store": "s1"}


def test_base_document_keeps_extra_fields_and_meta_defaults() -> None:
    doc = BaseDocument.model_validate({"x": 1, "_meta": {"op": "c"}})
    assert doc.meta_.op == "c" and doc.meta_.row_id == -1
    assert dumps_document(doc) == b'{"_meta":{"op":"c"},"x":1}'


async def test_pending_digest_matches_hashing_each_line_and_resets() -> None:
    out = io.BytesIO()
    async with asyncio.TaskGroup() as tg:
        task = make_task(tg, out)
        empty = task.pending_digest()
        assert empty == xxhash.xxh3_128().hexdigest()
        task.captured(0, {"id": 1})
        partial = task.pending_digest()
        task.sourced_schema(0, {"properties": {"id": {"type": "integer"}}})
        task.captured(0, {"id": 2})
        expected = xxhash.xxh3_128()
        expected.update(b'{"captured":{"binding":0,"doc":{"id":1}}}')
        assert partial == expected.hexdigest()
        expected.update(b'{"captured":{"binding":0,"doc":{"id":2}}}')
        assert task.pending_digest() == expected.hexdigest()
        task.reset()
        assert task.pending_digest() == empty
        await task.checkpoint(State())
    # reset() dropped the buffered lines, including the sourced schema.
    assert lines(out) == ['{"checkpoint":{"state":{"updated":{},"mergePatch":true}}}']


async def test_large_sequences_spill_to_disk_and_keep_order_and_digest() -> None:
    out = io.BytesIO()
    async with asyncio.TaskGroup() as tg:
        task = make_task(tg, out)
        task.MAX_BUFFER_MEM = 200
        expected = xxhash.xxh3_128()
        for i in range(50):
            task.captured(0, {"id": i, "pad": "x" * 20})
            expected.update(b'{"captured":{"binding":0,"doc":{"id":%d,"pad":"%s"}}}' % (i, b"x" * 20))
        assert task._spill is not None
        assert task.pending_digest() == expected.hexdigest()
        await task.checkpoint(State(cursor=49))
    got = lines(out)
    assert len(got) == 51
    assert [orjson.loads(line)["captured"]["doc"]["id"] for line in got[:-1]] == list(range(50))


def test_sourced_schema_defaults() -> None:
    schema = {"properties": {"id": {"type": "integer"}, "name": {"type": ["string", "null"]}}}
    out = with_sourced_schema_defaults(schema)
    assert schema == {"properties": {"id": {"type": "integer"}, "name": {"type": ["string", "null"]}}}
    assert out["type"] == "object" and out["additionalProperties"] is False
    assert out["required"] == ["id", "name", "_meta"]
    assert out["properties"]["id"] == {"minimum": 1, "maximum": 1, "type": "integer"}
    assert out["properties"]["name"] == {"minLength": 1, "maxLength": 1, "type": ["string", "null"]}
    meta = out["properties"]["_meta"]
    assert meta["additionalProperties"] is False and meta["required"] == ["uuid", "op", "row_id"]
    nested = with_sourced_schema_defaults(
        {
            "properties": {
                "_meta": {"properties": {"store": {"type": "string", "maxLength": 9}}},
                "tags": {"type": "array", "items": {"properties": {"k": {"type": "string"}}}},
            },
            "$defs": {"X": {"anyOf": [{"type": "number"}, {"properties": {"a": {"type": "integer"}}}]}},
        }
    )
    assert nested["properties"]["_meta"]["properties"]["store"] == {
        "minLength": 1,
        "maxLength": 9,
        "type": "string",
    }
    assert "op" in nested["properties"]["_meta"]["properties"]
    assert nested["properties"]["tags"]["items"]["additionalProperties"] is False
    assert nested["properties"]["tags"]["items"]["required"] == ["k"]
    any_of = nested["$defs"]["X"]["anyOf"]
    assert any_of[0] == {"minimum": 1, "maximum": 1, "type": "number"}
    assert any_of[1]["type"] == "object"


async def test_sourced_schema_line_precedes_documents_and_commits_with_checkpoint() -> None:
    out = io.BytesIO()
    async with asyncio.TaskGroup() as tg:
        task = make_task(tg, out)
        task.sourced_schema(1, {"properties": {}})
        await task.checkpoint(State())
    first = orjson.loads(lines(out)[0])
    assert list(first) == ["sourcedSchema"]
    assert first["sourcedSchema"]["binding"] == 1
    assert "_meta" in first["sourcedSchema"]["schema_json"]["properties"]


async def test_associated_documents_go_to_their_binding() -> None:
    out = io.BytesIO()
    async with asyncio.TaskGroup() as tg:
        task = make_task(tg, out)
        task.captured(0, AssociatedDocument(doc={"id": 9}, binding=3))
        await task.checkpoint(State())
    assert lines(out)[0] == '{"captured":{"binding":3,"doc":{"id":9}}}'


async def test_child_failure_is_recorded_and_sets_stopping_without_cancelling_siblings(
    caplog: pytest.LogCaptureFixture,
) -> None:
    out = io.BytesIO()
    sibling_finished = asyncio.Event()

    async def failing(task: Task) -> None:
        raise RuntimeError("boom")

    async def sibling(task: Task) -> None:
        await task.stopping.event.wait()
        task.captured(0, {"id": 1})
        await task.checkpoint(State(cursor=1))
        sibling_finished.set()

    with caplog.at_level(logging.ERROR):
        async with asyncio.TaskGroup() as tg:
            root = make_task(tg, out)
            root.spawn_child("sib", sibling)
            child = root.spawn_child("bad", failing)
    assert child.get_name() == "capture.bad"
    assert root.stopping.first_error_task == "capture.bad"
    assert str(root.stopping.first_error) == "boom"
    assert sibling_finished.is_set()
    assert lines(out)[-1] == '{"checkpoint":{"state":{"updated":{"cursor":1},"mergePatch":true}}}'
    assert any("capture.bad" in r.getMessage() and r.exc_info for r in caplog.records)


async def test_grandchildren_get_dotted_names_and_logger_children() -> None:
    out = io.BytesIO()
    seen: list[tuple[str, str]] = []

    async def grandchild(task: Task) -> None:
        seen.append((task.name, task.log.name))

    async def child(task: Task) -> None:
        task.spawn_child("inner", grandchild)

    async with asyncio.TaskGroup() as tg:
        make_task(tg, out).spawn_child("items", child)
    assert seen == [("capture.items.inner", "flow.items.inner")]


async def test_explicit_acks_resolve_checkpoints_in_fifo_order() -> None:
    out = io.BytesIO()
    done: list[int] = []

    async def writer(task: Task, n: int) -> None:
        await task.checkpoint(State(cursor=n))
        done.append(n)

    async with asyncio.TaskGroup() as tg:
        root = make_task(tg, out, acks=True)
        transactor = root.transactor
        first = tg.create_task(writer(root, 1))
        await asyncio.sleep(0)
        second = tg.create_task(writer(root, 2))
        for _ in range(3):
            await asyncio.sleep(0)
        assert transactor.pending_acks == 2 and done == []
        transactor.deliver_ack(1)
        await first
        assert done == [1] and not second.done()
        with pytest.raises(
            AcknowledgementProtocolError, match=r"acknowledged 2 checkpoint\(s\) when only 1 "
        ):
            transactor.deliver_ack(2)
        transactor.deliver_ack(1)
        await second
    assert done == [1, 2]


async def test_commit_wait_for_ack_requires_ack_tracking() -> None:
    transactor = Transactor(io.BytesIO())
    with pytest.raises(RuntimeError, match="requires_explicit_acks=True"):
        await transactor.commit(b"x\n", wait_for_ack=True)
    transactor.deliver_ack(5)  # Ignored without ack tracking.


async def test_multiple_writers_task_emits_each_batch_atomically() -> None:
    out = io.BytesIO()
    async with asyncio.TaskGroup() as tg:
        task = make_task(tg, out, cls=MultipleWritersTask)
        await asyncio.gather(
            task.emit([AssociatedDocument({"id": 1}, 0), AssociatedDocument({"id": 2}, 1)], State(cursor=1)),
            task.emit([AssociatedDocument({"id": 3}, 0)], State(cursor=2)),
        )
    assert lines(out) == [
        '{"captured":{"binding":0,"doc":{"id":1}}}',
        '{"captured":{"binding":1,"doc":{"id":2}}}',
        '{"checkpoint":{"state":{"updated":{"cursor":1},"mergePatch":true}}}',
        '{"captured":{"binding":0,"doc":{"id":3}}}',
        '{"checkpoint":{"state":{"updated":{"cursor":2},"mergePatch":true}}}',
    ]


async def test_multiple_writers_task_discards_partial_batch_on_error() -> None:
    out = io.BytesIO()

    class Unserializable:
        pass

    async with asyncio.TaskGroup() as tg:
        task = make_task(tg, out, cls=MultipleWritersTask)
        with pytest.raises(TypeError):
            await task.emit(
                [AssociatedDocument({"id": 1}, 0), AssociatedDocument({"x": Unserializable()}, 0)], State()
            )
        await task.emit([AssociatedDocument({"id": 2}, 0)], State(cursor=2))
    assert lines(out) == [
        '{"captured":{"binding":0,"doc":{"id":2}}}',
        '{"checkpoint":{"state":{"updated":{"cursor":2},"mergePatch":true}}}',
    ]


async def test_connector_status_logs_only_changes() -> None:
    log = init_logger()
    stopping = Task.Stopping()
    emitted: list[str] = []
    status = ConnectorStatus(log, stopping)
    status.close()
    log_event = log.event
    original = log_event.status
    log_event.status = emitted.append  # type: ignore[method-assign]
    try:
        assert status.emit_if_changed() is False  # No bindings yet.
        status.inc_binding_count()
        status.inc_binding_count()
        status.inc_backfilling(0)
        status.inc_backfilling(0)
        assert status.emit_if_changed() is True
        assert status.emit_if_changed() is False
        status.dec_backfilling(0)
        assert status.emit_if_changed() is False
        status.dec_backfilling(0)
        assert status.emit_if_changed() is True
        with pytest.raises(RuntimeError, match="binding 5 is not backfilling"):
            status.dec_backfilling(5)
    finally:
        log_event.status = original  # type: ignore[method-assign]
    assert emitted == [
        "Backfilling 1 out of 2 bindings",
        "Streaming change events (all 2 bindings are backfilled)",
    ]


async def test_connector_status_loop_uses_injected_sleep() -> None:
    log = init_logger()
    stopping = Task.Stopping()
    sleeps: list[float] = []
    messages: list[str] = []

    async def fake_sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) >= 3:
            stopping.event.set()
        await asyncio.sleep(0)

    status = ConnectorStatus(log, stopping, sleep=fake_sleep)
    status.log = type("L", (), {"event": type("E", (), {"status": staticmethod(messages.append)})()})()  # type: ignore[assignment]
    status.inc_binding_count()
    assert status._task is not None
    await status._task
    assert sleeps[0] == ConnectorStatus.INITIAL_DELAY and sleeps[1] == ConnectorStatus.INTERVAL
    assert messages == ["Streaming change events (all 1 bindings are backfilled)"]
