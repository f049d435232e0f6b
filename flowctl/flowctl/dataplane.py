"""The local pipeline's durable data plane: one SQLite file standing in for Gazette journals and
the tasks' recovery logs (what makes a restart of either side lose and double nothing).

* `journal`: per collection, documents at increasing offsets (1, 2, ...; never reused). A
  capture transaction's combined documents are appended together with the capture's reduced
  connector state, in one SQLite transaction, before the connector is acknowledged.
* `checkpoints` / `task_state`: per materialization, the runtime checkpoint it committed last
  (`{"sources": {"<journal>;<read suffix>": {"readThrough": "<offset>"}}}`) and its connector
  state, recorded after each `startedCommit`.
* `specs`: the last applied spec of each task, sent back as `lastMaterialization`.
Entries every reader has materialized are pruned, so the file stays bounded."""

from __future__ import annotations

import fcntl
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import orjson

from .errors import DataPlaneError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS journal (collection TEXT NOT NULL, offset INTEGER NOT NULL, doc BLOB NOT NULL,
    PRIMARY KEY (collection, offset)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS journal_heads (collection TEXT PRIMARY KEY, head INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS task_state (task TEXT PRIMARY KEY, state BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS checkpoints (task TEXT PRIMARY KEY, checkpoint BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS specs (task TEXT PRIMARY KEY, spec BLOB NOT NULL, version TEXT NOT NULL);
"""


def _exclusive_lock(path: Path) -> IO[str]:
    """One `flowctl run` per data plane: a second one would be a zombie writer of the same
    journals and checkpoints. The lock goes with the process, however it ends."""
    handle = path.open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise DataPlaneError(
            f"the data plane {path.with_suffix('.sqlite')} is in use by {holder}: one `flowctl run` per "
            "state directory (use --state-dir for another)"
        ) from None
    handle.truncate(0)
    handle.write(f"flowctl run (pid {os.getpid()})")
    handle.flush()
    return handle


def journal_name(collection: str) -> str:
    """The (single) journal of a collection's documents."""
    return f"{collection}/pivot=00"


def source_key(collection: str, read_suffix: str) -> str:
    """A binding's entry in a runtime checkpoint: the journal and the binding's read suffix."""
    return f"{journal_name(collection)};{read_suffix}"


class DataPlane:
    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._lock = _exclusive_lock(path.with_suffix(".lock"))
            self.db = sqlite3.connect(path, isolation_level=None)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")  # a commit survives a crash of the machine too
            self.db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as err:
            raise DataPlaneError(f"cannot open the data plane {path}: {err}") from None

    def _error(self, err: BaseException) -> BaseException:
        """SQLite failures become DataPlaneErrors naming the file; anything else stays."""
        if isinstance(err, sqlite3.Error):
            return DataPlaneError(f"cannot write the data plane {self.path}: {err}")
        return err

    def close(self) -> None:
        self.db.close()
        self._lock.close()

    # --- journals ----------------------------------------------------------------------------
    def head(self, collection: str) -> int:
        row = self.db.execute("SELECT head FROM journal_heads WHERE collection = ?", (collection,)).fetchone()
        return int(row[0]) if row else 0

    def commit_capture(
        self, task: str, docs: list[tuple[str, list[dict[str, Any]]]], state: dict[str, Any]
    ) -> None:
        """Append a capture transaction's documents and record its state, atomically."""
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            for collection, batch in docs:
                if not batch:
                    continue
                head = self.head(collection)
                db.executemany(
                    "INSERT INTO journal (collection, offset, doc) VALUES (?, ?, ?)",
                    ((collection, head + i, orjson.dumps(doc)) for i, doc in enumerate(batch, start=1)),
                )
                db.execute(
                    "INSERT INTO journal_heads VALUES (?, ?) ON CONFLICT (collection) DO UPDATE SET head = excluded.head",
                    (collection, head + len(batch)),
                )
            self._put("task_state", "state", task, state)
            db.execute("COMMIT")
        except BaseException as err:
            db.execute("ROLLBACK")
            raise self._error(err) from err

    def read(self, collection: str, after: int, limit: int) -> Iterator[tuple[int, bytes]]:
        """Up to `limit` (offset, document JSON) entries after `after`, in order."""
        cursor = self.db.execute(
            "SELECT offset, doc FROM journal WHERE collection = ? AND offset > ? ORDER BY offset LIMIT ?",
            (collection, after, limit),
        )
        for offset, doc in cursor:
            yield int(offset), bytes(doc)

    def first_offset(self, collection: str) -> int | None:
        row = self.db.execute(
            "SELECT MIN(offset) FROM journal WHERE collection = ?", (collection,)
        ).fetchone()
        return int(row[0]) if row and row[0] is not None else None

    def prune(self, collection: str, through: int) -> int:
        """Drop entries at or below `through` (every reader has materialized them)."""
        cursor = self.db.execute(
            "DELETE FROM journal WHERE collection = ? AND offset <= ?", (collection, through)
        )
        return cursor.rowcount

    def journal_size(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM journal").fetchone()[0])

    # --- task records ------------------------------------------------------------------------
    def _put(self, table: str, column: str, task: str, value: Any) -> None:
        self.db.execute(
            f"INSERT OR REPLACE INTO {table} (task, {column}) VALUES (?, ?)", (task, orjson.dumps(value))
        )

    def _get(self, table: str, column: str, task: str) -> Any:
        row = self.db.execute(f"SELECT {column} FROM {table} WHERE task = ?", (task,)).fetchone()
        return orjson.loads(row[0]) if row else None

    def state(self, task: str) -> dict[str, Any] | None:
        value = self._get("task_state", "state", task)
        return value if isinstance(value, dict) else None

    def checkpoint(self, task: str) -> dict[str, Any] | None:
        value = self._get("checkpoints", "checkpoint", task)
        return value if isinstance(value, dict) else None

    def commit_materialization(self, task: str, checkpoint: dict[str, Any], state: dict[str, Any]) -> None:
        """Record a materialization's committed checkpoint and connector state, atomically."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self._put("checkpoints", "checkpoint", task, checkpoint)
            self._put("task_state", "state", task, state)
            self.db.execute("COMMIT")
        except BaseException as err:
            self.db.execute("ROLLBACK")
            raise self._error(err) from err

    def last_spec(self, task: str) -> tuple[dict[str, Any] | None, str | None]:
        row = self.db.execute("SELECT spec, version FROM specs WHERE task = ?", (task,)).fetchone()
        return (orjson.loads(row[0]), str(row[1])) if row else (None, None)

    def put_spec(self, task: str, spec: dict[str, Any], version: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO specs VALUES (?, ?, ?)", (task, orjson.dumps(spec), version))
