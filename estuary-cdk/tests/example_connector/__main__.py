import asyncio
import os
from datetime import datetime

from estuary_cdk.capture._engine import clock

from example_connector import Connector

# Tests pin the engine clock so that `last_initialized` / `updated_at` are predictable.
if fixed := os.environ.get("EXAMPLE_CONNECTOR_NOW"):
    _now = datetime.fromisoformat(fixed)
    clock.now = lambda: _now

asyncio.run(Connector().serve())
