"""Yield rows from a streamed CSV body without holding it in memory."""

from __future__ import annotations

import codecs
import csv
import sys
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import asdict, dataclass
from typing import Any, ClassVar, Generic, TypeVar, cast

import aiocsv
from pydantic import ConfigDict, model_validator

from .capture.document import BaseDocument

__all__ = [
    "BaseCSVRow",
    "CSVConfig",
    "CSVProcessingError",
    "IncrementalCSVProcessor",
    "IncrementalCSVRowProcessor",
]

# Real-world exports carry fields larger than the csv module's 128 KiB default.
csv.field_size_limit(sys.maxsize)

StreamedItem = TypeVar("StreamedItem")


class BaseCSVRow(BaseDocument):
    """A document built from a CSV row: extra columns are kept, and cells whose text is in
    `NULL_VALUES` (by default only the empty string) become `None`."""

    model_config = ConfigDict(extra="allow")

    NULL_VALUES: ClassVar[set[str]] = {""}

    @model_validator(mode="before")
    @classmethod
    def _nulls(cls, data: Any) -> Any:
        if isinstance(data, dict):
            nulls = cls.NULL_VALUES
            return {k: (None if isinstance(v, str) and v in nulls else v) for k, v in data.items()}
        return data


@dataclass
class CSVConfig:
    """The csv dialect of a stream, plus its text encoding (`utf-8-sig` strips a BOM)."""

    delimiter: str = ","
    quotechar: str = '"'
    escapechar: str | None = None
    doublequote: bool = True
    skipinitialspace: bool = False
    lineterminator: str = "\r\n"
    quoting: int = csv.QUOTE_MINIMAL
    strict: bool = True
    encoding: str = "utf-8"

    def reader_kwargs(self) -> dict[str, Any]:
        kwargs = asdict(self)
        del kwargs["encoding"]
        if kwargs["escapechar"] is None:
            del kwargs["escapechar"]
        return kwargs


class CSVProcessingError(Exception):
    """Malformed CSV (or a row of the wrong width). The message names the reader settings, as
    a wrong dialect is the usual cause."""

    def __init__(self, message: str, config: dict[str, Any] | None = None) -> None:
        self.config = config
        if config:
            message = f"{message.rstrip('.')}. CSV reader configuration: " + ", ".join(
                f"{k}={v!r}" for k, v in config.items()
            )
        super().__init__(message)


class _TextReader:
    """Adapts a byte stream to aiocsv's `async read(size) -> str`, decoding incrementally so
    multi-byte characters split across chunks survive. Returns "" only at the end."""

    def __init__(self, chunks: AsyncIterable[bytes], encoding: str) -> None:
        self._chunks = aiter(chunks)
        self._decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
        self._done = False

    async def read(self, size: int = -1) -> str:
        while not self._done:
            try:
                chunk = await anext(self._chunks)
            except StopAsyncIteration:
                self._done = True
                return self._decoder.decode(b"", final=True)
            text = self._decoder.decode(chunk, final=False)
            if text:
                return text
        return ""


async def _rows(chunks: AsyncIterable[bytes], config: CSVConfig) -> AsyncIterator[list[str]]:
    kwargs = config.reader_kwargs()
    try:
        async for row in aiocsv.AsyncReader(_TextReader(chunks, config.encoding), **kwargs):
            yield row
    except csv.Error as exc:
        raise CSVProcessingError(f"Failed to parse CSV data: {exc}", config=kwargs) from exc
    except UnicodeDecodeError as exc:
        raise CSVProcessingError(f"CSV data is not valid {config.encoding}: {exc}", config=kwargs) from exc


class IncrementalCSVProcessor(Generic[StreamedItem]):
    """An async iterator over the rows of a CSV byte stream, as `streamed_item_cls` models
    (validated with `validation_context`) or, without a model, `dict[str, str]`. The first row
    is the header unless `fieldnames` is given. Blank lines are skipped; a row whose width
    differs from the header raises `CSVProcessingError` (silently padding or dropping cells
    would corrupt data)."""

    def __init__(
        self,
        byte_iterator: AsyncIterable[bytes],
        streamed_item_cls: type[StreamedItem] | None = None,
        config: CSVConfig | None = None,
        validation_context: object | None = None,
        fieldnames: list[str] | None = None,
    ) -> None:
        self.byte_iterator = byte_iterator
        self.streamed_item_cls = streamed_item_cls
        self.config = config or CSVConfig()
        self.validation_context = validation_context
        self.fieldnames = fieldnames
        self._gen = self._records()
        self._validate = getattr(streamed_item_cls, "model_validate", None)

    def __aiter__(self) -> IncrementalCSVProcessor[StreamedItem]:
        return self

    async def __anext__(self) -> StreamedItem:
        record = await anext(self._gen)
        if self._validate is not None:
            return cast(StreamedItem, self._validate(record, context=self.validation_context))
        return cast(StreamedItem, record)

    async def _records(self) -> AsyncIterator[dict[str, str]]:
        header = self.fieldnames
        line = 0
        async for row in _rows(self.byte_iterator, self.config):
            line += 1
            if not row or row == [""]:
                continue
            if header is None:
                header = row
                continue
            if len(row) != len(header):
                raise CSVProcessingError(
                    f"CSV row {line} has {len(row)} columns but {len(header)} were expected.",
                    config=self.config.reader_kwargs(),
                )
            yield dict(zip(header, row, strict=True))


class IncrementalCSVRowProcessor:
    """An async iterator over the raw rows (`list[str]`) of a CSV byte stream: no header
    handling and no width check; blank lines are skipped."""

    def __init__(self, byte_iterator: AsyncIterable[bytes], config: CSVConfig | None = None) -> None:
        self.byte_iterator = byte_iterator
        self.config = config or CSVConfig()
        self._gen = _rows(byte_iterator, self.config)

    def __aiter__(self) -> IncrementalCSVRowProcessor:
        return self

    async def __anext__(self) -> list[str]:
        while True:
            row = await anext(self._gen)
            if row and row != [""]:
                return row
