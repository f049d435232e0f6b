"""What the kit's generated model serializer (`estuary_cdk.capture._model_json.serializer_for`)
gains over pydantic's own, per document: the figure recorded in that module's docstring.

The same N documents (the ~15-field `Item` of `bench_connector.py`, validated from `make_raw`)
are written three ways, each the best of `--repeat` timed passes: by `serializer_for(Item)`, by
`Item.__pydantic_serializer__.to_json(by_alias=True, exclude_unset=True)` (what the kit would
call without the generator, and its fallback), and by `model_dump_json` (the same options); the
outputs are checked byte-equal first.

    estuary-cdk/.venv/bin/python bench/cdk_emit/model_json_gain.py [--count 20000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import sys
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_connector import Item
from bench_docs import make_raw
from estuary_cdk.capture._model_json import serializer_for


def _best(write: Callable[[Any], bytes], docs: list[Any], repeat: int) -> float:
    """Best seconds per document over `repeat` passes."""

    def one_pass() -> None:
        for doc in docs:
            write(doc)

    return min(timeit.repeat(one_pass, number=1, repeat=repeat)) / len(docs)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    docs = [Item.model_validate(make_raw(i)) for i in range(args.count)]
    generated = serializer_for(Item)
    assert generated is not None
    to_json = Item.__pydantic_serializer__.to_json

    def pydantic(doc: Any) -> bytes:
        return to_json(doc, by_alias=True, exclude_unset=True)

    def dump_json(doc: Any) -> bytes:
        return doc.model_dump_json(by_alias=True, exclude_unset=True).encode()

    if not all(generated(d) == pydantic(d) == dump_json(d) for d in docs):
        print("outputs differ: the generated serializer does not write pydantic's bytes")
        return 1
    rows = [
        ("serializer_for (generated)", _best(generated, docs, args.repeat)),
        ("__pydantic_serializer__.to_json", _best(pydantic, docs, args.repeat)),
        ("model_dump_json", _best(dump_json, docs, args.repeat)),
    ]
    print(f"{args.count:,} documents of {Item.__name__}, best of {args.repeat}; outputs byte-equal")
    for label, seconds in rows:
        print(f"  {label:<32} {seconds * 1e6:6.2f} us/doc")
    gain = rows[1][1] - rows[0][1]
    print(f"  gain over to_json: {gain * 1e6:.2f} us/doc ({rows[1][1] / rows[0][1]:.2f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
