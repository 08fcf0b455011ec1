"""
The lookup's body is read only once the caller is authenticated and authorized, and never past
:data:`~.api.MAX_BODY_BYTES`: an anonymous caller gets a bare 401 whatever it sends, and an oversized
body a 413 before (with a declared length) or as soon as (chunked) it passes the limit.

The bodies are sent through Airflow's API app in-process, from an async generator that counts the
bytes the app pulled: that count is what the server read of the body.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from airflow_provider_personalize_deletion.dashboard.body_limit import MAX_BODY_BYTES
from tests.dashboard.conftest import PREFIX

LOOKUP = f"{PREFIX}/api/evidence"
CHUNK = 1024
#: Far past the limit, so that reading it whole is unmistakable.
HUGE = 4 * 1024 * 1024
JSON = {"content-type": "application/json"}


@dataclass
class Answer:
    """What the app answered, and how many bytes of the body it pulled."""

    status: int
    json: object
    headers: httpx.Headers
    read: int


def post(api, chunks: list[bytes] | int, *, token: str | None = None, length: int | None = None) -> Answer:
    """
    POST a body to the lookup through Airflow's API app, counting the bytes the app pulls.

    :param chunks: the body's chunks, or a size: that many bytes of ``{`` in chunks of :data:`CHUNK`.
    :param token: the caller's ``_token`` cookie; anonymous without.
    :param length: the ``Content-Length`` to declare; without, the body is chunked.
    """
    read = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal read
        parts = chunks if isinstance(chunks, list) else (b"{" * CHUNK for _ in range(chunks // CHUNK))
        for part in parts:
            read += len(part)
            yield part

    async def send() -> httpx.Response:
        headers = dict(JSON)
        if length is not None:
            headers["content-length"] = str(length)
        transport = httpx.ASGITransport(app=api.client.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            return await client.post(
                LOOKUP, content=body(), headers=headers, cookies={"_token": token} if token else None
            )

    response = api.client.portal.call(send)
    return Answer(response.status_code, response.json(), response.headers, read)


@pytest.fixture
def reader_token(api) -> str:
    return api.login("officer").cookies["_token"]


def test_an_anonymous_malformed_body_gets_a_bare_401(api, sqlite_world):
    response = api.anonymous().post(LOOKUP, content=b"{bad", headers=JSON)
    assert response.status_code == 401
    assert response.json() == {"detail": "Not authenticated"}


def test_an_anonymous_body_of_declared_huge_length_gets_401_and_is_not_read(api, sqlite_world):
    answer = post(api, HUGE, length=HUGE)
    assert (answer.status, answer.json, answer.read) == (401, {"detail": "Not authenticated"}, 0)


def test_an_anonymous_chunked_huge_body_gets_401_and_is_not_read(api, sqlite_world):
    answer = post(api, HUGE)
    assert (answer.status, answer.json, answer.read) == (401, {"detail": "Not authenticated"}, 0)


def test_a_caller_without_the_permission_gets_403_and_nothing_of_its_body_is_read(api, sqlite_world):
    answer = post(api, HUGE, token=api.login("nobody").cookies["_token"])
    assert (answer.status, answer.json, answer.read) == (403, {"detail": "Forbidden"}, 0)


def test_a_body_declared_over_the_limit_gets_413_before_any_byte_is_read(api, sqlite_world, reader_token):
    answer = post(api, HUGE, token=reader_token, length=HUGE)
    assert (answer.status, answer.read) == (413, 0)
    assert str(MAX_BODY_BYTES) in answer.json["detail"]
    assert answer.headers["cache-control"] == "no-store"


def test_a_chunked_body_is_read_up_to_the_limit_then_refused_with_413(api, sqlite_world, reader_token):
    answer = post(api, HUGE, token=reader_token)
    assert answer.status == 413
    assert MAX_BODY_BYTES < answer.read <= MAX_BODY_BYTES + CHUNK


def test_a_body_of_exactly_the_limit_is_read_and_judged_on_its_content(api, sqlite_world, reader_token):
    answer = post(api, MAX_BODY_BYTES, token=reader_token, length=MAX_BODY_BYTES)
    assert (answer.status, answer.read) == (422, MAX_BODY_BYTES)  # not JSON, but not too large


def test_a_lookup_in_small_chunks_without_a_length_is_answered(api, sqlite_world, reader_token):
    body = b'{"user_id": "alice", "format": "json"}'
    answer = post(api, [body[i : i + 5] for i in range(0, len(body), 5)], token=reader_token)
    assert answer.status == 200
    assert [request["request_id"] for request in answer.json["requests"]] == sqlite_world.requests["alice"]


def test_a_malformed_body_of_an_authorized_caller_is_a_422_that_quotes_nothing(api, sqlite_world):
    response = api.login("officer").post(LOOKUP, content=b'{"user_id": "secret-id', headers=JSON)
    assert response.status_code == 422
    assert "secret-id" not in response.text
    assert response.json()["detail"][0]["loc"][0] == "body"
