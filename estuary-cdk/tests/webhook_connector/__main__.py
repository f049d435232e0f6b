import asyncio

from webhook_connector import Connector

asyncio.run(Connector().serve())
