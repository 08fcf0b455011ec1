"""
:class:`LocalAws`: the emulator's HTTP server, S3 (moto's) and Personalize on one local endpoint.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Sequence
from types import TracebackType
from typing import Any
from urllib.parse import urlencode

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import ThreadedWSGIServer

from airflow_provider_personalize_deletion.emulator.control import EmulatorClient
from airflow_provider_personalize_deletion.emulator.control_api import Emulator
from airflow_provider_personalize_deletion.emulator.faults import RequestFaults
from airflow_provider_personalize_deletion.emulator.personalize import JobTimings, PersonalizeState
from airflow_provider_personalize_deletion.emulator.request_guard import (
    AllowedHosts,
    RequestGuard,
    parse_extra_hosts,
)
from airflow_provider_personalize_deletion.emulator.wsgi import EmulatorApp

#: The largest total size of one job's input files (the English user guide says 50 MB).
DEFAULT_MAX_INPUT_BYTES = 50_000_000  # "50 MB": the strict reading of the service's limit
#: The credentials the emulator accepts (any would do; these are moto's conventional ones).
ACCESS_KEY_ID = SECRET_ACCESS_KEY = "testing"


class _Server(ThreadedWSGIServer):
    """A threaded WSGI server that can close its open keep-alive connections when it stops."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Wake every handler thread blocked on an idle connection, so that it ends."""
        with self._connections_lock:
            for connection in self._connections:
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)


class _RequestHandler(MotoRequestHandler):
    """moto's request handler without the access log (the URLs name S3 objects; the log is noise in tests)."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class LocalAws:
    """
    S3 and the Personalize data deletion API on one local HTTP endpoint, served from a background thread,
    with the resources that use a dataset group's data (datasets, import jobs, solutions and their
    versions, batch jobs, recommenders, tags): see :mod:`.resources`.

    Use it as a context manager (or :meth:`start` / :meth:`stop`)::

        with LocalAws(timings=JobTimings(0, 0)) as aws:
            boto3.client("personalize", endpoint_url=aws.endpoint_url)

    Every request whose ``Host`` is not an address it serves, or that a browser sent from another
    origin, is refused with 403 (see :mod:`.request_guard`).

    :param host: the address to bind; keep the default, the emulator has no authentication. Requests may
        name it (or a hostname given here) in ``Host``, as well as 127.0.0.1, localhost and [::1].
    :param port: the port to bind; 0 picks a free one.
    :param timings: how long data deletion jobs stay ``PENDING`` and ``IN_PROGRESS``.
    :param activity_timings: how long import jobs, solution versions, recommenders and batch jobs stay in
        their pending and in-progress statuses; the same as ``timings`` when None.
    :param max_input_bytes: the largest total size of one job's input files.
    :param region: the region in the ARNs the emulator creates.
    :param allowed_hosts: more ``Host`` values to answer: ``HOST`` (on the served port) or ``HOST:PORT``,
        e.g. the service name other containers reach it by, or a port docker publishes it on.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        timings: JobTimings | None = None,
        max_input_bytes: int = DEFAULT_MAX_INPUT_BYTES,
        region: str = "us-east-1",
        allowed_hosts: Sequence[str] = (),
        activity_timings: JobTimings | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.region = region
        self.allowed_hosts = parse_extra_hosts(allowed_hosts)
        self.emulator = Emulator(
            PersonalizeState(region, timings or JobTimings(), max_input_bytes, activity_timings),
            RequestFaults(),
        )
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> LocalAws:
        """Bind the port and serve from a background thread; return self."""
        app = EmulatorApp(self.emulator, DomainDispatcherApplication(create_backend_app))
        self._server = _Server(self.host, self.port, app, handler=_RequestHandler)
        self.port = self._server.server_port
        # The port is known only once bound (0 picks one), so the guard goes in front of the app here.
        self._server.app = RequestGuard(app, AllowedHosts.serving(self.host, self.port, self.allowed_hosts))
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="personalize-emulator", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close the port and every open connection, and wait for the server thread."""
        if self._server is None or self._thread is None:
            return
        self._server.shutdown()
        self._server.close_connections()
        self._server.server_close()
        self._thread.join()
        self._server = self._thread = None

    def __enter__(self) -> LocalAws:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def endpoint_url(self) -> str:
        """The URL every AWS client should use as ``endpoint_url``."""
        return f"http://{self.host}:{self.port}"

    @property
    def client(self) -> EmulatorClient:
        """A client of this emulator's control API."""
        return EmulatorClient(self.endpoint_url)

    def airflow_conn_uri(self) -> str:
        """Return an Airflow ``aws`` connection URI that points every service at this emulator."""
        query = urlencode({"region_name": self.region, "endpoint_url": self.endpoint_url})
        return f"aws://{ACCESS_KEY_ID}:{SECRET_ACCESS_KEY}@/?{query}"
