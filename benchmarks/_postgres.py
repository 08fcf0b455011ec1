"""
A private PostgreSQL server for the benchmarks: a throw-away cluster on 127.0.0.1, always stopped.

The tests' ``postgres_server`` fixture (``tests/plugins/postgres.py``) cannot be called from a
script, being a pytest fixture; its helpers (finding the binaries, a free port, running a tool as the
``postgres`` user when we are root) are reused as they are.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import sys
import tempfile
from collections.abc import Iterator

from _common import REPO

if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.plugins.postgres import _SERVER_USER, _bin_dir, _free_port, _run


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """
    Start a private PostgreSQL server and yield the URI of its ``postgres`` database.

    The server is stopped (fast shutdown) and its files removed on exit, whatever happened.
    """
    bin_dir = _bin_dir()
    base = tempfile.mkdtemp(prefix="ppd-bench-postgres-")
    data_dir = os.path.join(base, "data")
    if os.geteuid() == 0:
        account = pwd.getpwnam(_SERVER_USER)
        os.chown(base, account.pw_uid, account.pw_gid)
    port = _free_port()
    options = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off -c shared_buffers=256MB"
    try:
        _run(bin_dir, "initdb", "-D", data_dir, "-A", "trust", "-U", "postgres")
        log_file = os.path.join(base, "server.log")
        _run(bin_dir, "pg_ctl", "-D", data_dir, "-l", log_file, "-o", options, "-w", "start")
        yield f"postgres://postgres@127.0.0.1:{port}/postgres"
    finally:
        if os.path.exists(os.path.join(data_dir, "postmaster.pid")):
            _run(bin_dir, "pg_ctl", "-D", data_dir, "-m", "fast", "-w", "stop", check=False)
        shutil.rmtree(base, ignore_errors=True)
