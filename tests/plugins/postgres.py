"""
Fixtures: a real PostgreSQL server, started by the tests on a private port.

- ``postgres_server`` (session): a private cluster (``initdb`` + ``pg_ctl``) in a temp dir, listening
  on 127.0.0.1 only, trust authentication; always stopped at the end of the session.
- ``postgres_conn_id`` (function): a fresh database on it, exposed as an Airflow connection through
  ``AIRFLOW_CONN_<ID>``; yields the connection id; the database is dropped afterwards.

The PostgreSQL server binaries must be installed (Debian: ``apt-get install -y postgresql``); without
them the fixtures fail, they never skip. When the tests run as root, the server runs as the
``postgres`` user, since PostgreSQL refuses to run as root.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg2
import pytest

POSTGRES_CONN_ID = "warehouse_postgres"
_SERVER_USER = "postgres"


@dataclass(frozen=True)
class PostgresServer:
    """Where the test server listens: superuser ``user``, no password, maintenance DB ``dbname``."""

    host: str
    port: int
    user: str
    dbname: str

    def uri(self, dbname: str) -> str:
        """:param dbname: the database the URI names."""
        return f"postgres://{self.user}@{self.host}:{self.port}/{dbname}"

    def connect(self, dbname: str | None = None):
        """:param dbname: the database to connect to; the maintenance DB by default."""
        return psycopg2.connect(host=self.host, port=self.port, user=self.user, dbname=dbname or self.dbname)


def _bin_dir() -> str:
    initdb = shutil.which("initdb")
    if initdb:
        return os.path.dirname(os.path.realpath(initdb))
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if candidates:
        return os.path.dirname(candidates[-1])
    raise FileNotFoundError(
        "PostgreSQL server binaries (initdb, pg_ctl) were not found: install them with "
        "`apt-get install -y postgresql`"
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _run(bin_dir: str, tool: str, *args: str, check: bool = True) -> None:
    """Run a PostgreSQL tool, as the ``postgres`` user when the tests run as root."""
    command = [os.path.join(bin_dir, tool), *args]
    if os.geteuid() == 0:
        command = ["runuser", "-u", _SERVER_USER, "--", *command]
    subprocess.run(command, check=check, capture_output=True)


@contextlib.contextmanager
def private_postgres(extra_options: str = "") -> Iterator[PostgresServer]:
    """
    Start a throw-away PostgreSQL cluster on 127.0.0.1; stop it and remove its files on exit, always.

    Used by the ``postgres_server`` fixture and by the benchmarks.

    :param extra_options: more server options, e.g. ``-c shared_buffers=256MB``.
    """
    bin_dir = _bin_dir()
    base = tempfile.mkdtemp(prefix="ppd-postgres-")
    data_dir = os.path.join(base, "data")
    if os.geteuid() == 0:
        account = pwd.getpwnam(_SERVER_USER)
        os.chown(base, account.pw_uid, account.pw_gid)
    port = _free_port()
    server_options = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off {extra_options}"
    try:
        _run(bin_dir, "initdb", "-D", data_dir, "-A", "trust", "-U", "postgres")
        log_file = os.path.join(base, "server.log")
        _run(bin_dir, "pg_ctl", "-D", data_dir, "-l", log_file, "-o", server_options, "-w", "start")
        yield PostgresServer(host="127.0.0.1", port=port, user="postgres", dbname="postgres")
    finally:
        if os.path.exists(os.path.join(data_dir, "postmaster.pid")):
            _run(bin_dir, "pg_ctl", "-D", data_dir, "-m", "fast", "-w", "stop", check=False)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    try:
        _bin_dir()
    except FileNotFoundError as missing:
        pytest.fail(str(missing), pytrace=False)
    with private_postgres() as server:
        yield server


@pytest.fixture
def postgres_conn_id(postgres_server: PostgresServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    dbname = f"test_{uuid.uuid4().hex[:12]}"
    admin = postgres_server.connect()
    admin.autocommit = True
    try:
        with admin.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{dbname}"')
        monkeypatch.setenv(f"AIRFLOW_CONN_{POSTGRES_CONN_ID.upper()}", postgres_server.uri(dbname))
        yield POSTGRES_CONN_ID
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE "{dbname}" WITH (FORCE)')
    finally:
        admin.close()
