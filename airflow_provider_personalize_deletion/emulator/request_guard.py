"""
:class:`RequestGuard`: refuse requests a browser could send to the emulator on a page's behalf.

The emulator has no authentication and holds user ids, so on a developer machine any web page is a
client: a cross-origin form POST can drive the control API (CSRF), and a page whose own hostname is
made to resolve to 127.0.0.1 (DNS rebinding) reads every answer as same-origin. Every route (the
control API, the Personalize API and moto's S3) answers 403 when:

- the ``Host`` header is not an address the emulator serves: ``127.0.0.1``, ``localhost`` (or a name
  under ``.localhost``: S3 virtual-hosted addressing), ``[::1]`` or the bound host, on the served
  port; or a host given with ``allowed_hosts`` (``--allow-host``). A rebinding page sends its own
  hostname, which is none of these;
- an ``Origin`` header names any other origin, or is ``null``;
- ``Sec-Fetch-Site`` says the request comes from another origin (``cross-site`` or ``same-site``).

AWS SDKs (botocore, aiobotocore) send ``Host`` from the endpoint URL and neither ``Origin`` nor
``Sec-Fetch-Site``, so they pass.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

log = logging.getLogger(__name__)

#: The names that reach this machine's loopback interface, which no DNS answer can claim.
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})
#: ``Sec-Fetch-Site`` values of requests that no other origin started (absent: not a browser).
SAME_ORIGIN_FETCH_SITES = frozenset({"same-origin", "none"})
HTTP_DEFAULT_PORT = 80

HOST_RULE = (
    "Forbidden: the Host header must name an address this emulator serves (127.0.0.1, localhost or [::1] "
    "on its port, the address it is bound to, or a host given with --allow-host)."
)
ORIGIN_RULE = "Forbidden: cross-origin requests are refused (the Origin header is not this emulator's)."
FETCH_SITE_RULE = "Forbidden: cross-origin requests are refused (Sec-Fetch-Site is not same-origin)."


def split_authority(authority: str) -> tuple[str, int | None] | None:
    """
    Split ``host``, ``host:port`` or ``[ipv6]:port`` into the lower-case host (no brackets) and the port.

    :param authority: a ``Host`` header, or the part of an origin after ``http://``.
    :return: ``(host, port)`` with ``port`` None when absent; None when it is not a bare authority.
    """
    try:
        parts = urlsplit(f"//{authority}")
        port = parts.port
    except ValueError:  # an unclosed IPv6 bracket, a port that is not a number in range
        return None
    if (
        not parts.hostname
        or "@" in parts.netloc
        or any(char.isspace() for char in authority)
        or parts.path
        or parts.query
        or parts.fragment
    ):
        return None
    return parts.hostname, port


@dataclass(frozen=True)
class AllowedHosts:
    """
    The authorities (host and port) requests may name in ``Host`` and ``Origin``.

    :param port: the port the emulator serves.
    :param names: hosts allowed on that port (lower case, IPv6 without brackets).
    :param authorities: ``(host, port)`` pairs allowed as they are (e.g. a port published by docker).
    """

    port: int
    names: frozenset[str]
    authorities: frozenset[tuple[str, int]] = frozenset()

    @classmethod
    def serving(
        cls, bound_host: str, port: int, extra_hosts: Iterable[tuple[str, int | None]] = ()
    ) -> AllowedHosts:
        """
        The loopback names and the bound host on the served port, plus the extra hosts.

        :param bound_host: the address the server is bound to, or the hostname it was started with.
        :param port: the port it serves.
        :param extra_hosts: ``(host, port)`` pairs from :func:`parse_extra_hosts`; None for the served port.
        """
        names = set(LOOPBACK_NAMES | {bound_host.strip("[]").lower()})
        authorities = set()
        for host, extra_port in extra_hosts:
            if extra_port is None:
                names.add(host)
            else:
                authorities.add((host, extra_port))
        return cls(port, frozenset(names), frozenset(authorities))

    def allows(self, authority: str) -> bool:
        """:param authority: a ``Host`` header value; a missing port means HTTP's 80."""
        host_and_port = split_authority(authority)
        if host_and_port is None:
            return False
        host, port = host_and_port[0], host_and_port[1] or HTTP_DEFAULT_PORT
        if (host, port) in self.authorities:
            return True
        on_served_port = port == self.port
        return on_served_port and (host in self.names or host.endswith(".localhost"))

    def allows_origin(self, origin: str) -> bool:
        """:param origin: an ``Origin`` header; only ``http://`` origins of an allowed authority pass."""
        scheme, _, authority = origin.partition("://")
        return scheme.lower() == "http" and self.allows(authority)


def parse_extra_hosts(entries: Sequence[str]) -> tuple[tuple[str, int | None], ...]:
    """
    :param entries: ``HOST`` (allowed on the served port) or ``HOST:PORT`` strings.
    :return: their ``(host, port)`` pairs, port None when absent.
    :raises ValueError: when an entry is neither, naming its position.
    """
    parsed = []
    for index, entry in enumerate(entries):
        host_and_port = split_authority(entry) if isinstance(entry, str) else None
        if host_and_port is None:
            raise ValueError(
                f"allowed_hosts[{index}] must be HOST or HOST:PORT (an IPv6 address in brackets), "
                "without scheme, user or path."
            )
        parsed.append(host_and_port)
    return tuple(parsed)


class RequestGuard:
    """
    WSGI middleware: answer 403 to a request with a foreign ``Host`` or from another origin; pass the rest.

    :param app: the application every allowed request goes to.
    :param allowed: the authorities the emulator answers to.
    """

    def __init__(self, app: WSGIApplication, allowed: AllowedHosts) -> None:
        self.app = app
        self.allowed = allowed

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        refusal = self.refusal(environ)
        if refusal is None:
            return self.app(environ, start_response)
        log.warning("Refused a request with 403. %s", refusal)
        body = json.dumps({"error": refusal}).encode()
        start_response(
            "403 Forbidden", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        )
        return [body]

    def refusal(self, environ: WSGIEnvironment) -> str | None:
        """:param environ: the request; return the rule it breaks, or None to serve it."""
        if not self.allowed.allows(environ.get("HTTP_HOST", "")):
            return HOST_RULE
        origin = environ.get("HTTP_ORIGIN")
        if origin is not None and not self.allowed.allows_origin(origin):
            return ORIGIN_RULE
        fetch_site = environ.get("HTTP_SEC_FETCH_SITE")
        if fetch_site is not None and fetch_site.lower() not in SAME_ORIGIN_FETCH_SITES:
            return FETCH_SITE_RULE
        return None
