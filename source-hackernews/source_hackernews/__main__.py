import asyncio

from source_hackernews import Connector

asyncio.run(Connector().serve())
