import asyncio

from source_hubspot_native import Connector

asyncio.run(Connector().serve())
