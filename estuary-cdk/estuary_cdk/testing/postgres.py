"""A private PostgreSQL server for tests: `initdb` + `pg_ctl` in a temporary directory, listening
on 127.0.0.1 at a free port (and on a unix socket in that directory), stopped and deleted at the
end. It needs the server binaries (Debian's `postgresql` package) and nothing else: no Docker, no
Python driver (statements run through the `psql` next to `initdb`).

    with start_postgres() as server:
        server.create_database("t1")
        subprocess.run([...], env={"PGPORT": str(server.port), ...})

or, in pytest, the session-scoped `postgres_server` fixture (one server for the whole suite;
import it into a conftest.py: `from estuary_cdk.testing.postgres import postgres_server`).

PostgreSQL refuses to run as root, and test machines often are root: then the cluster runs as
the `postgres` system user (`runuser -u postgres --`), which owns the temporary directory.
The binaries are found through `$PG_BINDIR`, else `pg_config --bindir`, else the newest
`/usr/lib/postgresql/<version>/bin`. The cluster trades durability for speed (fsync off): it is
thrown away at the end, and a crash of the test process is not a crash of the machine.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["PostgresServer", "PostgresUnavailable", "find_bindir", "postgres_server", "start_postgres"]

SUPERUSER = "flow"
PASSWORD = "flow-test-password"
_SYSTEM_USER = "postgres"
_SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
    "log_min_messages": "warning",
}


class PostgresUnavailable(RuntimeError):
    """The server binaries are missing, or the cluster could not start (the message says why)."""


@dataclass(frozen=True)
class PostgresServer:
    """A running test server. `user` is a superuser that logs in with `password` over TCP."""

    host: str
    port: int
    user: str
    password: str
    socket_dir: Path
    bindir: Path

    @property
    def address(self) -> str:
        """`host:port`, as connector configs write it."""
        return f"{self.host}:{self.port}"

    def conninfo(self, database: str = "postgres") -> str:
        """A libpq connection string for `database`."""
        return (
            f"host={self.host} port={self.port} user={self.user} password={self.password} "
            f"dbname={database} connect_timeout=10"
        )

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run `sql` with psql (stopping at the first error) and return its unaligned output."""
        proc = subprocess.run(
            [str(self.bindir / "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql],
            env={
                **os.environ,
                "PGHOST": self.host,
                "PGPORT": str(self.port),
                "PGUSER": self.user,
                "PGPASSWORD": self.password,
                "PGDATABASE": database,
            },
            capture_output=True,
            text=True,
            timeout=60,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"psql failed on {sql!r}: {proc.stderr.strip()}")
        return proc.stdout

    def create_database(self, name: str) -> None:
        """A new empty database (its name is quoted as given)."""
        quoted = '"' + name.replace('"', '""') + '"'
        self.psql(f"CREATE DATABASE {quoted}")


def find_bindir() -> Path:
    """The directory holding `initdb` and `pg_ctl` (see the module docstring)."""
    candidates: list[Path] = []
    if os.environ.get("PG_BINDIR"):
        candidates.append(Path(os.environ["PG_BINDIR"]))
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, timeout=10)
        if out.returncode == 0 and out.stdout.strip():
            candidates.append(Path(out.stdout.strip()))

    def version(path: Path) -> tuple[int, ...]:
        return tuple(int(p) for p in path.parent.name.split(".") if p.isdigit())

    candidates.extend(sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=version, reverse=True))
    for directory in candidates:
        if (directory / "initdb").is_file() and (directory / "pg_ctl").is_file():
            return directory
    raise PostgresUnavailable(
        "PostgreSQL server binaries (initdb, pg_ctl) not found in $PG_BINDIR, `pg_config --bindir` or "
        "/usr/lib/postgresql/*/bin: install Debian's `postgresql` package"
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_server_user(argv: Sequence[str]) -> list[str]:
    """`argv` run as the `postgres` system user when we are root (PostgreSQL refuses root)."""
    if os.geteuid() != 0:
        return list(argv)
    return ["runuser", "-u", _SYSTEM_USER, "--", *argv]


def _run(argv: Sequence[str], what: str) -> None:
    proc = subprocess.run(_as_server_user(argv), capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise PostgresUnavailable(
            f"{what} failed (exit {proc.returncode}): {proc.stderr.strip() or proc.stdout}"
        )


@contextlib.contextmanager
def start_postgres(base_dir: Path | None = None) -> Iterator[PostgresServer]:
    """Start a private cluster (see the module docstring); it is stopped and deleted on exit."""
    bindir = find_bindir()
    if base_dir is None and os.geteuid() == 0:
        # The `postgres` user must reach the directory: $TMPDIR may be private to root.
        base_dir = Path("/tmp")
    root = Path(tempfile.mkdtemp(prefix="pg-test-", dir=base_dir))
    data, sockets, pwfile = root / "data", root / "sockets", root / "pwfile"
    sockets.mkdir()
    pwfile.write_text(PASSWORD + "\n")
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam(_SYSTEM_USER)
        except KeyError:
            shutil.rmtree(root, ignore_errors=True)
            raise PostgresUnavailable(
                f"running as root, but there is no `{_SYSTEM_USER}` system user to run PostgreSQL as"
            ) from None
        for path in (root, sockets, pwfile):
            os.chown(path, owner.pw_uid, owner.pw_gid)
    started = False
    try:
        _run(
            [
                str(bindir / "initdb"),
                "-D", str(data),
                "-U", SUPERUSER,
                f"--pwfile={pwfile}",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "-E", "UTF8",
                "--locale=C",
                "--no-sync",
            ],
            "initdb",
        )  # fmt: skip
        port = _free_port()
        settings = {**_SETTINGS, "port": str(port), "unix_socket_directories": f"'{sockets}'"}
        with open(data / "postgresql.conf", "a") as conf:
            conf.write("\n# estuary_cdk.testing.postgres\n")
            conf.writelines(f"{k} = {v}\n" for k, v in settings.items())
        log = root / "server.log"
        if os.geteuid() == 0:
            log.touch()
            os.chown(log, owner.pw_uid, owner.pw_gid)
        try:
            _run(
                [str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", "60", "start"],
                "pg_ctl start",
            )
        except PostgresUnavailable as exc:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise PostgresUnavailable(f"{exc}\nserver log:\n{tail}") from None
        started = True
        yield PostgresServer("127.0.0.1", port, SUPERUSER, PASSWORD, sockets, bindir)
    finally:
        if started:
            with contextlib.suppress(PostgresUnavailable, subprocess.SubprocessError):
                _run(
                    [str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"], "pg_ctl stop"
                )
        shutil.rmtree(root, ignore_errors=True)


try:
    import pytest
except ImportError:  # the helpers above work without pytest
    pass
else:

    @pytest.fixture(scope="session")
    def postgres_server() -> Iterator[PostgresServer]:
        """One private PostgreSQL server for the whole test session."""
        with start_postgres() as server:
            yield server
