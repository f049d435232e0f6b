"""Bad input ends the run with one clear error naming what is wrong (the setting, user, database,
collection, field or statement), exit status 1, and nothing half-written."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from conftest import TASK, Workspace
from estuary_cdk import ConnectorError
from materialize_postgres.connection import connect
from materialize_postgres.models import EndpointConfig
from protocol import Connector

_TABLES = (
    "SELECT table_schema, table_name FROM information_schema.tables "
    "WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"
)


def _fails(ws: Workspace, lines: int = 1) -> str:
    """Run the preview, which must fail; the last `lines` of its output (the error). The database
    is untouched."""
    run = ws.preview(check=False)
    assert run.returncode == 1, run.stderr
    assert ws.sql(_TABLES) == []
    assert ws.sql("SELECT nspname FROM pg_namespace WHERE nspname = 'Other \"Schema\"'") == []
    return "\n".join(run.stderr.strip().splitlines()[-lines:])


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda c: c.pop("address"), '"address" is a required property'),
        (lambda c: c.update(hardDelete="yes"), "/hardDelete"),
        (lambda c: c.update(advanced={"sslmode": "sometimes"}), "/advanced/sslmode"),
    ],
    ids=["missing address", "wrong type", "invalid sslmode"],
)
def test_flowctl_refuses_a_config_the_connector_schema_rejects(
    ws: Workspace, change: Callable[[dict[str, Any]], None], expected: str
) -> None:
    ws.edit_config(change)
    run = ws.preview(check=False)
    assert run.returncode == 1
    assert expected in run.stderr, run.stderr


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"user": "flow"}, "validate.config.address: Field required"),
        (
            {"address": "db", "user": "flow", "hardDelete": "maybe"},
            "validate.config.hardDelete: Input should be",
        ),
        (
            {"address": "db:99999", "user": "flow"},
            "has port '99999': expected a number from 1 to 65535",
        ),
        ({"address": "db", "user": "flow", "advanced": {"sslmode": "x"}}, "validate.config.advanced.sslmode"),
        (
            {"address": "db", "user": "flow", "passwrd": "x"},
            "validate.config.passwrd: Extra inputs are not permitted",
        ),
        (
            {
                "address": "db",
                "user": "flow",
                "password": "a",
                "credentials": {"auth_type": "UserPassword", "password": "b"},
            },
            "`password` and `credentials.password` are both set and differ",
        ),
    ],
    ids=["missing", "wrong type", "bad port", "bad sslmode", "unknown field", "two passwords"],
)
def test_the_connector_names_the_bad_setting(config: dict[str, Any], expected: str) -> None:
    connector = Connector()
    connector.send({"validate": {"name": TASK, "config": config, "bindings": []}})
    assert expected in connector.last_error()
    assert connector.proc.returncode == 1


def test_an_address_where_nothing_listens_is_unreachable(ws: Workspace) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    ws.edit_config(lambda c: c.update(address=f"127.0.0.1:{port}"))
    assert f"PostgreSQL at 127.0.0.1:{port} (setting `address`) is unreachable: connection refused" in _fails(
        ws
    )


def test_wrong_credentials_name_the_user(ws: Workspace) -> None:
    ws.edit_config(lambda c: c.update(password="not the password"))
    last = _fails(ws)
    assert "refused the credentials of user 'flow' (settings `user` and `password`)" in last
    assert 'password authentication failed for user "flow"' in last
    assert "not the password" not in last


def test_a_missing_database_is_named(ws: Workspace) -> None:
    ws.edit_config(lambda c: c.update(database="no_such_database"))
    assert "database 'no_such_database' (setting `database`) does not exist" in _fails(ws)


def test_a_field_that_cannot_be_a_column_is_refused(ws: Workspace) -> None:
    def require(doc: dict[str, Any]) -> None:
        binding = doc["materializations"][TASK]["bindings"][3]
        assert binding["source"] == "tests/data-types"
        binding["fields"] = {"require": {"onlyNull": {}}, "recommended": True}

    ws.edit_catalog(require)
    last = _fails(ws, lines=2)
    assert "field 'onlyNull'" in last and "collection tests/data-types" in last
    assert "Cannot materialize a field where the only possible type is 'null'" in last


def test_a_nullable_key_without_a_default_is_refused(ws: Workspace) -> None:
    ws.edit_collections(lambda c: c["tests/datetime-keys"]["schema"].update(required=["at"]))
    assert (
        "cannot materialize collection 'tests/datetime-keys' with nullable key field 'day' unless it has a "
        "default value annotation" in _fails(ws)
    )


def test_a_failing_statement_of_apply_leaves_nothing_behind(ws: Workspace) -> None:
    def bad_sql(doc: dict[str, Any]) -> None:
        doc["materializations"][TASK]["bindings"][3]["resource"]["additional_table_create_sql"] = (
            "CREATE INDEX ON data_types (no_such_column)"
        )

    ws.edit_catalog(bad_sql)
    last = _fails(ws)
    assert "applying the table changes failed (nothing was changed) at 'CREATE INDEX ON data_types" in last
    assert 'column "no_such_column" does not exist' in last


@pytest.fixture
def silent_listener() -> Iterator[int]:
    """A port that accepts connections and never says a word."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        yield s.getsockname()[1]


def test_connecting_to_a_server_that_never_answers_is_bounded(silent_listener: int) -> None:
    config = EndpointConfig.model_validate(
        {"address": f"127.0.0.1:{silent_listener}", "user": "flow", "password": "x"}
    )
    with pytest.raises(ConnectorError) as failed:
        asyncio.run(connect(config, within=2))
    assert f"PostgreSQL at 127.0.0.1:{silent_listener} (setting `address`) did not answer within 2s" in str(
        failed.value
    )
