import asyncio

from source_core import Connector

asyncio.run(Connector().serve())
