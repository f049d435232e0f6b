"""IncrementalCSVProcessor / IncrementalCSVRowProcessor."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from estuary_cdk.incremental_csv_processor import (
    BaseCSVRow,
    CSVConfig,
    CSVProcessingError,
    IncrementalCSVProcessor,
    IncrementalCSVRowProcessor,
)


async def _chunks(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


class Row(BaseCSVRow):
    id: int
    name: str | None


CSV = 'id,name,note\r\n1,Zoë,"multi\r\nline, with comma"\r\n2,,"say ""hi"""\r\n\r\n3,Ω,\r\n'.encode()


@pytest.mark.parametrize("chunk", [1, 3, 1000])
async def test_dict_rows_across_chunk_boundaries(chunk: int) -> None:
    rows = [row async for row in IncrementalCSVProcessor(_chunks(CSV, chunk))]
    assert rows == [
        {"id": "1", "name": "Zoë", "note": "multi\r\nline, with comma"},
        {"id": "2", "name": "", "note": 'say "hi"'},
        {"id": "3", "name": "Ω", "note": ""},
    ]


async def test_models_nulls_and_extra_columns() -> None:
    rows = [row async for row in IncrementalCSVProcessor(_chunks(CSV, 5), Row)]
    assert [r.id for r in rows] == [1, 2, 3]
    assert rows[1].name is None  # "" is a NULL value
    assert rows[2].note is None  # type: ignore[attr-defined]  (extra column, kept)
    assert rows[0].model_dump()["note"] == "multi\r\nline, with comma"


async def test_custom_dialect_bom_and_fieldnames() -> None:
    data = "\ufeffa\tb\n1\t2\n".encode()
    rows = [
        r
        async for r in IncrementalCSVProcessor(
            _chunks(data, 2), config=CSVConfig(delimiter="\t", encoding="utf-8-sig")
        )
    ]
    assert rows == [{"a": "1", "b": "2"}]
    rows = [r async for r in IncrementalCSVProcessor(_chunks(b"1,2\n3,4\n", 3), fieldnames=["x", "y"])]
    assert rows == [{"x": "1", "y": "2"}, {"x": "3", "y": "4"}]


async def test_width_mismatch_is_an_error() -> None:
    with pytest.raises(
        CSVProcessingError,
        match=r"CSV row 3 has 2 columns but 3 were expected\. CSV reader configuration: delimiter=','",
    ):
        [r async for r in IncrementalCSVProcessor(_chunks(b"a,b,c\n1,2,3\n4,5\n", 4))]


async def test_strict_parse_errors_and_bad_encoding() -> None:
    with pytest.raises(CSVProcessingError, match="Failed to parse CSV data"):
        [r async for r in IncrementalCSVProcessor(_chunks(b'a,b\n"1"x,2\n', 4))]
    with pytest.raises(CSVProcessingError, match="not valid utf-8"):
        [r async for r in IncrementalCSVProcessor(_chunks(b"a,b\n\xff\xfe,2\n", 4))]


async def test_row_processor() -> None:
    rows = [r async for r in IncrementalCSVRowProcessor(_chunks(b"a,b\n\n1,2,3\n4\n", 2))]
    assert rows == [["a", "b"], ["1", "2", "3"], ["4"]]


async def test_large_field() -> None:
    big = "x" * 300_000
    rows = [r async for r in IncrementalCSVProcessor(_chunks(f"a\n{big}\n".encode(), 65536))]
    assert rows == [{"a": big}]
