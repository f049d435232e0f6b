import asyncio

from . import CrashingConnector

asyncio.run(CrashingConnector().serve())
