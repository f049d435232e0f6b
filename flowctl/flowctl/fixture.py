"""Preview fixtures for materializations (flow-protocol §5.3): the transactions of documents
that stand in for collection data.

Two forms. NDJSON: each line is a document `["<collection>", {doc}]` or a commit marker
`{"commit": true}`; documents between markers form a transaction, consecutive markers make
empty transactions, and documents after the last marker form a final one. Legacy: one JSON
array of transactions, each an array of `[collection, doc]` pairs. NDJSON is read one
transaction at a time (memory follows the transaction size); `-` reads standard input."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import orjson

from .errors import FixtureError

Transaction = list[tuple[str, dict[str, Any]]]


def _document(value: Any, where: str) -> tuple[str, dict[str, Any]]:
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not isinstance(value[0], str)
        or not isinstance(value[1], dict)
    ):
        raise FixtureError(f'{where}: expected ["<collection>", {{document}}] or {{"commit": true}}')
    return value[0], value[1]


def _legacy(stream: IO[bytes], name: str) -> Iterator[Transaction]:
    try:
        data = orjson.loads(stream.read())
    except orjson.JSONDecodeError as err:
        raise FixtureError(f"{name}: not valid JSON ({err})") from None
    if not isinstance(data, list) or not all(isinstance(t, list) for t in data):
        raise FixtureError(
            f"{name}: a legacy fixture is an array of transactions, each an array of documents"
        )
    for t, txn in enumerate(data):
        yield [_document(d, f"{name}: transaction {t} document {i}") for i, d in enumerate(txn)]


def _ndjson(first: bytes, stream: IO[bytes], name: str, first_number: int) -> Iterator[Transaction]:
    txn: Transaction = []
    pending = False  # documents (or nothing yet) since the last marker
    lines = _chain(first, stream) if first else stream
    for number, line in enumerate(lines, start=first_number):
        if not line.strip():
            continue
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError as err:
            raise FixtureError(f"{name}:{number}: not valid JSON ({err})") from None
        if isinstance(value, dict):
            if value != {"commit": True}:
                raise FixtureError(
                    f'{name}:{number}: an object line must be the commit marker {{"commit": true}}'
                )
            yield txn
            txn, pending = [], False
            continue
        txn.append(_document(value, f"{name}:{number}"))
        pending = True
    if pending:
        yield txn


def read_fixture(path: str) -> Iterator[Transaction]:
    """The fixture's transactions, in order."""
    if path == "-":
        stream: IO[bytes] = sys.stdin.buffer
        name = "<stdin>"
    else:
        try:
            stream = Path(path).open("rb")
        except OSError as err:
            raise FixtureError(f"cannot read fixture {path!r}: {err.strerror}") from None
        name = path
    try:
        first, first_number = stream.readline(), 1
        while first and not first.strip():
            first, first_number = stream.readline(), first_number + 1
        if first.lstrip().startswith((b"[[", b"[]")):
            yield from _legacy_from(first, stream, name)
        else:
            yield from _ndjson(first, stream, name, first_number)
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()


def _legacy_from(first: bytes, stream: IO[bytes], name: str) -> Iterator[Transaction]:
    import io

    return _legacy(io.BytesIO(first + stream.read()), name)


def _chain(first: bytes, rest: IO[bytes]) -> Iterator[bytes]:
    yield first
    yield from rest
