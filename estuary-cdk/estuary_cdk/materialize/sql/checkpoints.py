"""The checkpoints table and its fence: how a SQL destination commits each transaction exactly
once and refuses a zombie writer (materialize-sql.md §2.6, §3.1, §3.4, §3.6).

One row per (materialization, key range) holds the runtime checkpoint of the last transaction
committed to the destination and a fence. `open` bumps the fence of every overlapping row and
reads the narrowest covering row's checkpoint, which `Opened.runtimeCheckpoint` returns: the
destination, not the runtime's log, says where to resume. Each commit writes its checkpoint with
`UPDATE ... WHERE fence = <ours>` as the last statement of the transaction that also wrote the
data; when another session opened since, that matches no row, and the whole transaction is
rolled back with an error — data and checkpoint move together or not at all.

The checkpoint is stored as JSON text (the JSON codec's form of `consumer.Checkpoint`; Estuary's
Go connectors store base64 protobuf, so the two do not share rows).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from ..._errors import ConnectorError

__all__ = ["CHECKPOINTS_TABLE", "Fence", "FencedOff", "SQLExecutor", "checkpoints_ddl", "install_fence"]

CHECKPOINTS_TABLE = "flow_checkpoints_v1"


class SQLExecutor(Protocol):
    """Statements within the caller's open transaction."""

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run a statement; the number of rows it changed."""
        ...

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run a query; its rows."""
        ...


class FencedOff(ConnectorError):
    """Another session of this materialization opened since this one: its commit is refused."""


def checkpoints_ddl(table: str) -> str:
    """The checkpoints table (`table` is its quoted, qualified name)."""
    return (
        f"CREATE TABLE IF NOT EXISTS {table} (\n"
        "    materialization TEXT NOT NULL,\n"
        "    key_begin BIGINT NOT NULL,\n"
        "    key_end BIGINT NOT NULL,\n"
        "    fence BIGINT NOT NULL,\n"
        "    checkpoint TEXT NOT NULL,\n"
        "    PRIMARY KEY (materialization, key_begin, key_end)\n"
        ");"
    )


@dataclass
class Fence:
    """This session's claim on its key range, and the checkpoint to resume from (None: none was
    ever committed, start from the beginning)."""

    table: str
    materialization: str
    key_begin: int
    key_end: int
    fence: int
    checkpoint: dict[str, Any] | None
    placeholder: Callable[[int], str]

    def commit_statement(self, runtime_checkpoint: dict[str, Any]) -> tuple[str, tuple[Any, ...]]:
        """The fenced checkpoint update: the last statement of every commit. It must change
        exactly one row (`check_committed`)."""
        p = self.placeholder
        sql = (
            f"UPDATE {self.table} SET checkpoint = {p(1)} WHERE materialization = {p(2)} "
            f"AND key_begin = {p(3)} AND key_end = {p(4)} AND fence = {p(5)}"
        )
        return sql, (
            orjson.dumps(runtime_checkpoint).decode(),
            self.materialization,
            self.key_begin,
            self.key_end,
            self.fence,
        )

    def check_committed(self, rowcount: int) -> None:
        if rowcount != 1:
            raise FencedOff(
                f"this instance of materialization {self.materialization} was fenced off by another that "
                "opened since: its transaction was rolled back (the newer instance carries on)"
            )


async def install_fence(
    db: SQLExecutor,
    table: str,
    placeholder: Callable[[int], str],
    materialization: str,
    key_begin: int,
    key_end: int,
) -> Fence:
    """Bump the fence of every row of `materialization` overlapping [key_begin, key_end], take the
    narrowest covering row's fence and checkpoint, and make sure a row for exactly this range
    exists. Run it in one transaction of its own (the caller commits)."""
    p = placeholder
    await db.execute(
        f"UPDATE {table} SET fence = fence + 1 WHERE materialization = {p(1)} AND key_end >= {p(2)} "
        f"AND key_begin <= {p(3)}",
        (materialization, key_begin, key_end),
    )
    rows = await db.fetch(
        f"SELECT fence, key_begin, key_end, checkpoint FROM {table} WHERE materialization = {p(1)} "
        f"AND key_begin <= {p(2)} AND key_end >= {p(3)} ORDER BY key_end - key_begin ASC LIMIT 1",
        (materialization, key_begin, key_end),
    )
    if rows:
        fence, begin, end, raw = rows[0]
        checkpoint = _decode(raw, materialization)
    else:
        fence, begin, end, raw, checkpoint = 0, None, None, "{}", None
    if (begin, end) != (key_begin, key_end):
        await db.execute(
            f"INSERT INTO {table} (materialization, key_begin, key_end, fence, checkpoint) "
            f"VALUES ({p(1)}, {p(2)}, {p(3)}, {p(4)}, {p(5)})",
            (materialization, key_begin, key_end, fence, raw),
        )
    return Fence(table, materialization, key_begin, key_end, int(fence), checkpoint, placeholder)


def _decode(raw: Any, materialization: str) -> dict[str, Any] | None:
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise ConnectorError(
            f"the checkpoint stored for materialization {materialization} in {CHECKPOINTS_TABLE} is not JSON "
            "(was it written by another implementation?): refusing to guess where to resume"
        ) from None
    if not isinstance(value, dict):
        raise ConnectorError(
            f"the checkpoint stored for materialization {materialization} is not a JSON object"
        )
    return value or None
