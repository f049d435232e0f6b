"""The raw loop the SQLite benchmark compares against: read the same documents, build each row
(the same columns, objects and arrays as JSON text, the document as it was read) and insert them
all with `executemany` in one transaction. The least any loader must do.

    python raw_sqlite.py DOCS.jsonl DATABASE
"""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Iterator
from typing import Any

import orjson
from workload import PUBLISHED_AT, VALUE_FIELDS


def rows(path: str) -> Iterator[tuple[Any, ...]]:
    loads, dumps = orjson.loads, orjson.dumps
    with open(path, "rb") as f:
        for line in f:
            doc = loads(line)
            row: list[Any] = [doc["id"]]
            for field in VALUE_FIELDS:
                if field == "_meta/op":
                    row.append(doc["_meta"]["op"])
                elif field == "flow_published_at":
                    row.append(PUBLISHED_AT)
                else:
                    v = doc[field]
                    row.append(dumps(v).decode() if isinstance(v, dict | list) else v)
            row.append(line.rstrip(b"\n").decode())
            yield tuple(row)


def main(docs: str, database: str) -> None:
    conn = sqlite3.connect(database, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    columns = ["id", *VALUE_FIELDS, "flow_document"]
    conn.execute("CREATE TABLE items (" + ", ".join(f'"{c}"' for c in columns) + ", PRIMARY KEY (id))")
    marks = ", ".join("?" for _ in columns)
    conn.execute("BEGIN")
    conn.executemany(f"INSERT INTO items VALUES ({marks})", rows(docs))
    conn.execute("COMMIT")
    conn.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
