"""Serve the fake HubSpot on its own (a manual `flowctl preview`, a container's open test):

    python -m fake_hubspot --port 0            # from the connector's tests/ directory

It prints its base URL on the first line. Credentials: the private-app token
`pat-na1-fake-private-app-token`, or the OAuth client `fake-client-id` / `fake-client-secret` with
refresh token `fake-refresh-token`. `POST /_fake/knobs {"limits": true}` switches HubSpot's rate
limits on; see app.py for the rest of the control API.
"""

from __future__ import annotations

import argparse
import asyncio

from aiohttp import web
from estuary_cdk.testing import RequestLog
from estuary_cdk.testing._faults import FaultPlan, make_middleware

from .app import make_app
from .fake import FakeHubSpot


async def _serve(args: argparse.Namespace) -> None:
    fake = FakeHubSpot(seed=args.seed, limits=args.limits, expires_in=args.expires_in)
    plan, log = FaultPlan(), RequestLog()
    app = make_app(fake, plan, log)
    app.middlewares.insert(0, make_middleware(plan, log))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, args.host, args.port)
    await site.start()
    print(f"http://{args.host}:{runner.addresses[0][1]}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m fake_hubspot", description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8089, help="0 picks a free port (printed on stdout)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--limits", action="store_true", help="HubSpot's documented rate limits")
    p.add_argument("--expires-in", type=float, default=1800.0, help="OAuth access token lifetime (s)")
    try:
        asyncio.run(_serve(p.parse_args()))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
