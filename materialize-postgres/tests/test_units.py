"""The connector's pieces against the real server: names as PostgreSQL stores them, its keyword
list, the config's address, and the spec."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from conftest import TASK, Workspace
from materialize_postgres.connection import connect
from materialize_postgres.keywords import KEYWORDS
from materialize_postgres.models import EndpointConfig, split_address
from materialize_postgres.sqlgen import DIALECT


def test_every_keyword_the_server_reserves_is_quoted(ws: Workspace) -> None:
    reserved = {w for (w,) in ws.sql("SELECT word FROM pg_get_keywords() WHERE catcode IN ('R', 'T', 'C')")}
    assert reserved <= KEYWORDS, f"add to keywords.py: {sorted(reserved - KEYWORDS)}"
    unreserved = [
        w for (w,) in ws.sql("SELECT word FROM pg_get_keywords() WHERE catcode = 'U' ORDER BY word")
    ]
    # Each keyword as a column name, quoted as the dialect quotes it: the statement must parse,
    # and unreserved keywords need no quotes.
    columns = ", ".join(f"{DIALECT.quote(w)} INTEGER" for w in [*sorted(KEYWORDS), *unreserved])
    ws.sql(f"CREATE TABLE keywords ({columns})")
    assert DIALECT.quote("select") == '"select"' and DIALECT.quote("at") == "at"


@pytest.mark.parametrize(
    "name",
    [
        "a field name that is much longer than the sixty-three bytes postgres keeps",
        "é" * 40,  # 80 bytes: cut inside the 32nd character would split it
        "😀" * 20,
        "x" * 63,
    ],
)
def test_long_names_are_cut_where_the_server_cuts_them(ws: Workspace, name: str) -> None:
    ws.sql(f"CREATE TABLE t ({DIALECT.quote(name)} INTEGER)")
    ((stored,),) = ws.sql("SELECT column_name FROM information_schema.columns WHERE table_name = 't'")
    assert stored == DIALECT.identifier(name)
    assert DIALECT.folded(name) == (stored if stored != name else "")


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("db.example.com", ("db.example.com", 5432)),
        ("db:6543", ("db", 6543)),
        (" 10.0.0.1:5433 ", ("10.0.0.1", 5433)),
        ("[::1]:5433", ("::1", 5433)),
        ("[::1]", ("::1", 5432)),
    ],
)
def test_addresses(address: str, expected: tuple[str, int]) -> None:
    assert split_address(address) == expected


@pytest.mark.parametrize(
    ("address", "problem"),
    [
        ("", "is empty"),
        ("db:0", "expected a number from 1 to 65535"),
        ("db:port", "expected a number from 1 to 65535"),
        ("::1", "write an IPv6 host in brackets"),
        ("postgres://db:5432", "is not host[:port]"),
        (":5432", "has no host"),
    ],
)
def test_bad_addresses(address: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem.replace("[", r"\[")):
        split_address(address)


def test_spec(ws: Workspace, snapshot: Any) -> None:
    out = ws.flowctl("raw", "spec", "--source", str(ws.catalog), "--materialization", TASK).stdout
    spec = json.loads(out)
    assert snapshot("spec.txt") == json.dumps(spec, indent=2, sort_keys=True) + "\n"
    config = spec["configSchema"]
    assert config["properties"]["password"]["secret"] is True
    assert config["properties"]["credentials"]["oneOf"][0]["properties"]["password"]["secret"] is True
    assert config["additionalProperties"] is False
    assert spec["resourceConfigSchema"]["properties"]["table"]["x-collection-name"] is True


def test_the_password_may_be_given_as_credentials(ws: Workspace) -> None:
    s = ws.server
    config = EndpointConfig.model_validate(
        {
            "address": s.address,
            "user": s.user,
            "database": ws.database,
            "credentials": {"auth_type": "UserPassword", "password": s.password},
        }
    )

    async def whoami() -> tuple[Any, ...] | None:
        conn = await connect(config)
        async with conn:
            cur = await conn.execute("SELECT current_user, current_database()")
            return await cur.fetchone()

    assert asyncio.run(whoami()) == (s.user, ws.database)
