"""Output writer: ordered, atomic commits through a pipe (writer thread) or inline."""

from __future__ import annotations

import asyncio
import io
import os
import tempfile

import pytest
from estuary_cdk import _output
from estuary_cdk._output import OutputWriteError, OutputWriter


async def test_pipe_writes_keep_commit_order_and_drain() -> None:
    r, w = os.pipe()
    output = os.fdopen(w, "wb")
    writer = OutputWriter(output)
    assert writer._threaded
    chunks = [b"%d\n" % i * 1000 for i in range(50)]
    spill = tempfile.TemporaryFile()
    spill.write(b"from-file\n")

    received = bytearray()

    def read_all() -> None:
        while data := os.read(r, 1 << 16):
            received.extend(data)

    reader = asyncio.get_running_loop().run_in_executor(None, read_all)
    for chunk in chunks:
        writer.write(chunk)
    writer.write(spill)
    await writer.drain()
    output.close()
    await reader
    os.close(r)
    assert bytes(received) == b"".join(chunks) + b"from-file\n"
    assert spill.closed


async def test_back_pressure_waits_for_the_writer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_output, "HIGH_WATER", 10)
    monkeypatch.setattr(_output, "LOW_WATER", 0)
    r, w = os.pipe()
    output = os.fdopen(w, "wb")
    writer = OutputWriter(output)
    throttle_done = False

    async def commit() -> None:
        nonlocal throttle_done
        writer.write(b"x" * 200_000)  # More than a pipe buffer: the writer thread blocks.
        await writer.throttle()
        throttle_done = True

    committing = asyncio.create_task(commit())
    for _ in range(20):
        await asyncio.sleep(0)
    assert not throttle_done
    got = 0
    while got < 200_000:
        got += len(await asyncio.to_thread(os.read, r, 1 << 16))
    await committing
    assert throttle_done
    output.close()
    os.close(r)


async def test_closed_pipe_fails_the_next_write() -> None:
    r, w = os.pipe()
    os.close(r)
    output = os.fdopen(w, "wb")
    writer = OutputWriter(output)
    writer.write(b"lost\n")
    with pytest.raises(OutputWriteError, match="writing to the connector output failed"):
        await writer.drain()
    with pytest.raises(OutputWriteError):
        writer.write(b"again\n")
    output.close()


async def test_in_memory_outputs_are_written_inline_and_files_through_the_thread() -> None:
    buf = io.BytesIO()
    inline = OutputWriter(buf)
    assert not inline._threaded
    inline.write(b"a\n")
    inline.write(bytearray(b"b\n"))
    await inline.throttle()
    assert buf.getvalue() == b"a\nb\n"
    with tempfile.TemporaryFile() as f:
        writer = OutputWriter(f)
        assert writer._threaded
        writer.write(b"c\n")
        writer.write(b"d\n")
        await writer.drain()
        f.seek(0)
        assert f.read() == b"c\nd\n"
