"""Loaded at start-up by every connector process of `bench/dropin_captures.py` (its folder is put
on PYTHONPATH, the same for both kits): sends the vendor's host names to the local fake.

`DROPIN_FAKE_HOSTS` is a JSON object of host name (or `*.suffix`) to a loopback port. Resolving
one of them gives 127.0.0.1 at that port whatever port was asked for, so `https://api.vendor.com`
reaches the fake's TLS listener while the client still checks the certificate for the vendor's
name (the fake's certificate is signed by a throwaway CA that `SSL_CERT_FILE` /
`REQUESTS_CA_BUNDLE` trust). Any other name but loopback fails to resolve: nothing leaves the
machine. aiohttp's default resolver is aiodns when installed, which bypasses
`socket.getaddrinfo`, so the threaded resolver (which uses it) is made the default. And
`certifi.where()` names the same CA file: the Airbyte CDK sends prepared requests with
`Session.send`, which skips `REQUESTS_CA_BUNDLE` and verifies against certifi's bundle.
"""

from __future__ import annotations

import json
import os
import socket

_HOSTS: dict[str, int] = json.loads(os.environ.get("DROPIN_FAKE_HOSTS") or "{}")
_LOCAL = {"localhost", "127.0.0.1", "::1", "ip6-localhost"}
_real_getaddrinfo = socket.getaddrinfo


def _port_for(host: str) -> int | None:
    host = host.lower().rstrip(".")
    if host in _HOSTS:
        return _HOSTS[host]
    for pattern, port in _HOSTS.items():
        if pattern.startswith("*.") and host.endswith(pattern[1:]):
            return port
    return None


def _getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):  # type: ignore[no-untyped-def]
    name = host.decode() if isinstance(host, bytes) else host
    if name is None or name in _LOCAL:
        return _real_getaddrinfo(host, port, family, type, proto, flags)
    fake = _port_for(name)
    if fake is None:
        raise socket.gaierror(socket.EAI_NONAME, f"{name} is not served by the drop-in fake")
    return _real_getaddrinfo("127.0.0.1", fake, socket.AF_INET, type, proto, flags)


if _HOSTS:
    socket.getaddrinfo = _getaddrinfo
    if os.environ.get("SSL_CERT_FILE"):
        try:
            import certifi

            certifi.where = lambda: os.environ["SSL_CERT_FILE"]
        except ImportError:
            pass
    try:
        import aiohttp.connector
        import aiohttp.resolver

        aiohttp.connector.DefaultResolver = aiohttp.resolver.ThreadedResolver  # type: ignore[misc]
    except ImportError:
        pass
