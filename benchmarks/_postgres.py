"""
A private PostgreSQL server for the benchmarks: the tests' throw-away cluster (``tests/plugins/postgres.py``).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

from _common import REPO

if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.plugins.postgres import private_postgres


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """Start a private PostgreSQL server and yield the URI of its ``postgres`` database; always stopped."""
    with private_postgres("-c shared_buffers=256MB") as server:
        yield server.uri(server.dbname)
