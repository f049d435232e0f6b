"""estuary_cdk.testing.postgres: a private PostgreSQL cluster that starts, answers on 127.0.0.1
and its own unix socket only, and leaves nothing behind."""

from __future__ import annotations

import socket

from estuary_cdk.testing.postgres import PostgresServer, start_postgres


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_a_private_cluster_starts_serves_and_is_removed() -> None:
    with start_postgres() as server:
        assert isinstance(server, PostgresServer)
        assert server.address == f"127.0.0.1:{server.port}"
        assert server.psql("SHOW listen_addresses").strip() == "127.0.0.1"
        assert server.psql("SHOW unix_socket_directories").strip() == str(server.socket_dir)
        assert (server.socket_dir / f".s.PGSQL.{server.port}").exists()
        server.create_database('a "quoted" name')
        assert server.psql("SELECT current_database(), current_user", database='a "quoted" name').strip() == (
            f'a "quoted" name|{server.user}'
        )
        assert _listening(server.port)
        root = server.socket_dir.parent
    assert not _listening(server.port)
    assert not root.exists()
