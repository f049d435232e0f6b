import asyncio

from source_hello_world import Connector

asyncio.run(Connector().serve())
