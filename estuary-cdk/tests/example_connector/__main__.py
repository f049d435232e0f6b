import asyncio
import os
from datetime import datetime

from estuary_cdk.http import SystemClock

from example_connector import Connector


class PinnedNow(SystemClock):
    """Real waits, a fixed `now()`: tests pin the connector's clock so that `last_initialized` /
    `updated_at` are predictable."""

    def __init__(self, now: datetime) -> None:
        self._now = now

    def now(self) -> datetime:
        return self._now


connector = Connector()
if fixed := os.environ.get("EXAMPLE_CONNECTOR_NOW"):
    connector.clock = PinnedNow(datetime.fromisoformat(fixed))

asyncio.run(connector.serve())
