"""Connecting to the server, and database errors as one clear line.

A connection attempt is bounded (`CONNECT_TIMEOUT_SECONDS`, for the whole of TCP connect, TLS and
authentication), and its failures say which setting is at fault: an address where nothing
answers, a user whose credentials the server refused, a database that does not exist. Sessions
run with no statement timeout (large transactions take as long as they take) and keepalives, as
Estuary's connector does.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import psycopg
from estuary_cdk import ConnectorError

from .models import EndpointConfig

__all__ = ["CONNECT_TIMEOUT_SECONDS", "connect", "pg_error"]

CONNECT_TIMEOUT_SECONDS = 20.0
APPLICATION_NAME = "materialize-postgres"


def connect_args(config: EndpointConfig, timeout: float) -> dict[str, Any]:
    """libpq connection parameters of the endpoint config."""
    host, port = config.host_port
    args: dict[str, Any] = {
        "host": host,
        "port": port,
        "user": config.user,
        "connect_timeout": max(2, int(timeout)),
        "application_name": APPLICATION_NAME,
        "options": "-c statement_timeout=0",
        "keepalives": 1,
        "keepalives_idle": 120,
        "keepalives_interval": 30,
        "keepalives_count": 6,
    }
    if config.secret is not None:
        args["password"] = config.secret
    if config.database:
        args["dbname"] = config.database
    if config.advanced.sslmode:
        args["sslmode"] = config.advanced.sslmode
    return args


def _connect_error(config: EndpointConfig, exc: Exception, timeout: float) -> ConnectorError:
    """What went wrong with a connection attempt, naming the setting to look at."""
    host, port = config.host_port
    where = f"{host}:{port}"
    text = str(exc)
    detail = text.split(" failed: ", 1)[-1].replace("FATAL:  ", "").strip()
    lowered = text.lower()
    if isinstance(exc, TimeoutError) or "timeout expired" in lowered or "timed out" in lowered:
        return ConnectorError(
            f"PostgreSQL at {where} (setting `address`) did not answer within {timeout:.0f}s: the address is "
            "unreachable from here (a firewall dropping packets, a wrong host, or a server that is down)"
        )
    if "connection refused" in lowered:
        return ConnectorError(
            f"PostgreSQL at {where} (setting `address`) is unreachable: connection refused, nothing is "
            "listening on that port"
        )
    if "resolve host" in lowered or "translate host name" in lowered:
        return ConnectorError(
            f"PostgreSQL address {config.address!r} (setting `address`) is unreachable: host {host!r} could "
            "not be resolved"
        )
    if (
        "password authentication failed" in lowered
        or "no password supplied" in lowered
        or (re.search(r'role "[^"]*" does not exist', text))
    ):
        return ConnectorError(
            f"PostgreSQL at {where} refused the credentials of user {config.user!r} (settings `user` and "
            f"`password`): {detail}"
        )
    match = re.search(r'database "([^"]*)" does not exist', text)
    if match:
        return ConnectorError(
            f"database {match.group(1)!r} (setting `database`) does not exist on the PostgreSQL server at "
            f"{where}: create it, or name an existing one"
        )
    if "ssl" in lowered:
        return ConnectorError(
            f"cannot connect to PostgreSQL at {where} (setting `advanced.sslmode`): {detail}"
        )
    return ConnectorError(f"cannot connect to PostgreSQL at {where} as user {config.user!r}: {detail}")


async def connect(
    config: EndpointConfig, within: float = CONNECT_TIMEOUT_SECONDS
) -> psycopg.AsyncConnection[tuple[Any, ...]]:
    """A connection to the endpoint (made `within` seconds), or a ConnectorError that says why
    there is none."""
    try:
        async with asyncio.timeout(within + 1):
            return await psycopg.AsyncConnection.connect(**connect_args(config, within))
    except (psycopg.Error, TimeoutError, OSError) as exc:
        raise _connect_error(config, exc, within) from None


def pg_error(exc: psycopg.Error, doing: str) -> ConnectorError:
    """A database error during `doing` as one line, with the server's detail and hint."""
    diag = exc.diag
    parts = [f"{doing}: {diag.message_primary or str(exc).strip()}"]
    if diag.message_detail:
        parts.append(f"({diag.message_detail})")
    if diag.message_hint:
        parts.append(f"hint: {diag.message_hint}")
    if diag.sqlstate:
        parts.append(f"[SQLSTATE {diag.sqlstate}]")
    return ConnectorError(" ".join(parts))
