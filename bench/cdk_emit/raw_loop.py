"""The baseline of `bench/cdk_emit.py`: the same dict documents written with orjson and nothing
else (no protocol envelope, no checkpoints, no event loop)."""

import sys
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).parent))
from bench_docs import make_raw


def main() -> None:
    count = int(sys.argv[1])
    dumps = orjson.dumps
    with open(sys.argv[2], "wb") as out:
        write = out.write
        for i in range(count):
            write(dumps(make_raw(i)))
            write(b"\n")


if __name__ == "__main__":
    main()
