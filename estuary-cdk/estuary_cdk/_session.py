"""The shape every connector session shares, capture or materialization.

A session is one `open` of a connector: it is created when the `open` request arrives, owns what
lives exactly as long as that `open` (its writer of responses, its acknowledgement bookkeeping,
its stopping signal) and ends the process when it ends. The connector keeps request dispatch and
the hooks a connector author overrides; per-session state lives here, never on the connector.
"""

from __future__ import annotations

import abc
from collections.abc import Callable

from ._output import OutputWriter
from .logger import FlowLogger

__all__ = ["ConnectorSession", "InputEnd"]


class InputEnd:
    """Whether the runtime closed the connector's input, and who wants to know.

    The input may end at any moment, also while a session is still being set up; a session that
    subscribes after the end is told at once, so there is one place that decides and no ordering
    race between "input ended" and "session started"."""

    def __init__(self) -> None:
        self.closed = False
        self._subscribers: list[Callable[[], None]] = []

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        subscribers, self._subscribers = self._subscribers, []
        for notify in subscribers:
            notify()

    def subscribe(self, notify: Callable[[], None]) -> None:
        """Call `notify` once when the input ends (now, if it already has)."""
        if self.closed:
            notify()
        else:
            self._subscribers.append(notify)


class ConnectorSession(abc.ABC):
    """One `open`: writes its responses through the connector's single `writer` and learns of
    the end of the input through `input_closed`."""

    def __init__(self, log: FlowLogger, writer: OutputWriter) -> None:
        self.log = log
        self.writer = writer

    async def emit(self, data: bytes) -> None:
        """Write one unit of complete response lines, waiting while too much is queued."""
        self.writer.write(data)
        await self.writer.throttle()

    @abc.abstractmethod
    def input_closed(self) -> None:
        """The runtime closed the input: no request (acknowledgement, transaction) will come."""
