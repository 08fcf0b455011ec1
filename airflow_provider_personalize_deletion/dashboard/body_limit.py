"""
A guard on the bodies of requests: no route of the dashboard's app reads more than
:data:`MAX_BODY_BYTES` of one, whatever the caller sends.

It wraps what the app receives, so it acts only when a route asks for the body: the app's
dependencies, authentication first, have run by then, and its 413 (an ``HTTPException`` raised
inside the route) is answered by the app like any other error.
"""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException

#: The most of a request's body the app reads (8 KiB). A lookup's body holds at most 1,024 characters of
#: user id (the column's size), at most 6 bytes each as JSON (UTF-8, or a ``\u`` escape), and its format.
MAX_BODY_BYTES = 8 * 1024


class BodyLimitMiddleware:
    """
    No route of the app reads more than :data:`MAX_BODY_BYTES` of a request's body: 413 instead.

    The check happens when a route first asks for the body, so that the app's dependencies
    (authentication first) run before: a body whose ``Content-Length`` is over the limit is refused
    then, before a byte of it is read; a body without one (chunked) is read until it passes the
    limit, then refused: the app reads at most one of the server's chunks past the limit. The server
    buffers what arrives ahead of the app up to its own bound (uvicorn pauses reading at 64 KiB).

    :param app: the ASGI app it wraps.
    :param limit: the most bytes of a body the app may read.
    """

    def __init__(self, app: Any, limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        received = 0

        async def limited_receive() -> Any:
            nonlocal received
            if declared is not None and declared > self.limit:
                raise self._too_large()
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise self._too_large()
            return message

        await self.app(scope, limited_receive, send)

    def _too_large(self) -> HTTPException:
        return HTTPException(413, f"The request's body is larger than {self.limit} bytes")


def _content_length(scope: Any) -> int | None:
    """The request's declared ``Content-Length``; None when it declares none (a chunked body)."""
    for name, value in scope.get("headers", ()):
        if name.lower() == b"content-length" and value.strip().isdigit():
            return int(value)
    return None
