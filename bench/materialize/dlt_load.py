"""dlt loading the same documents (run in dlt's own virtualenv; the benchmark installs it).

    python dlt_load.py DOCS.jsonl DESTINATION_URL

DESTINATION_URL is `sqlite:///path.db` (dlt's sqlalchemy destination) or a `postgresql://` URL
(dlt's postgres destination). Documents merge by primary key `id`, the semantics of a Flow
materialization with standard updates.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import dlt
import orjson


def main(docs: str, url: str) -> None:
    @dlt.resource(name="items", write_disposition="merge", primary_key="id")
    def items() -> Iterator[list[dict[str, Any]]]:
        batch: list[dict[str, Any]] = []
        with open(docs, "rb") as f:
            for line in f:
                batch.append(orjson.loads(line))
                if len(batch) == 10_000:
                    yield batch
                    batch = []
        if batch:
            yield batch

    if url.startswith("sqlite"):
        destination = dlt.destinations.sqlalchemy(credentials=url)
    else:
        destination = dlt.destinations.postgres(credentials=url)
    pipeline = dlt.pipeline(
        pipeline_name="bench", destination=destination, dataset_name="bench", pipelines_dir=sys.argv[3]
    )
    info = pipeline.run(items())
    info.raise_on_failed_jobs()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
