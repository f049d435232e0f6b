"""The raw loop the PostgreSQL benchmark compares against: read the same documents, build each row
(the same columns, objects and arrays as JSON text, the document as it was read) and COPY them all
into the table in one transaction with psycopg. The least any loader must do.

    python raw_postgres.py DOCS.jsonl CONNINFO
"""

from __future__ import annotations

import sys
from typing import Any

import orjson
import psycopg
from workload import PUBLISHED_AT, VALUE_FIELDS


def main(docs: str, conninfo: str) -> None:
    columns = ["id", *VALUE_FIELDS, "flow_document"]
    types = {
        "id": "BIGINT", "active": "BOOLEAN", "parent_id": "BIGINT", "score": "DOUBLE PRECISION",
        "version": "BIGINT", "views": "BIGINT", "address": "JSON", "tags": "JSON", "flow_document": "JSON",
        "created_at": "TIMESTAMPTZ", "updated_at": "TIMESTAMPTZ", "flow_published_at": "TIMESTAMPTZ",
    }  # fmt: skip
    definitions = ", ".join('"' + c.replace('"', '""') + '" ' + types.get(c, "TEXT") for c in columns)
    loads, dumps = orjson.loads, orjson.dumps
    with psycopg.connect(conninfo) as conn:
        conn.execute(
            f"DROP TABLE IF EXISTS raw_items; CREATE TABLE raw_items ({definitions}, PRIMARY KEY (id))"
        )
        names = ", ".join('"' + c.replace('"', '""') + '"' for c in columns)
        with (
            conn.cursor() as cur,
            cur.copy(f"COPY raw_items ({names}) FROM STDIN") as copy,
            open(docs, "rb") as f,
        ):
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
                copy.write_row(row)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
