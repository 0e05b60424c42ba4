"""Every route has a body size limit, checked before the route (and its credential
check) reads anything: a 413 that says the limit, and the connection closed.
Real HTTP (uvicorn on loopback): the limits live below FastAPI."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi import FastAPI

from app.core.config import Settings
from tests.browser import serve_asgi
from tests.cases.conftest import REQUEST
from tests.conftest import World

SLIDE = "00000000-0000-0000-0000-000000000000"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"max_upload_bytes": 200_000})


@pytest.fixture
def base(app: FastAPI) -> Iterator[str]:
    with serve_asgi(app) as url:
        yield url


def head_only(
    base: str, method: str, path: str, length: int, language: str = "en"
) -> tuple[int, bytes]:
    """Send a request's head announcing `length` body bytes, and none of them: the
    answer can only come from the announcement."""
    address = urlsplit(base)
    with socket.create_connection((address.hostname, address.port), timeout=30) as sock:
        sock.sendall(
            f"{method} {path} HTTP/1.1\r\nHost: {address.netloc}\r\n"
            f"Accept-Language: {language}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n".encode()
        )
        answer = b""
        while chunk := sock.recv(65536):  # the server closes after a 413
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert b"connection: close" in head.lower(), head
    return int(head.split()[1]), body


@pytest.mark.parametrize(
    ("method", "path", "length", "words"),
    [
        ("POST", "/api/cases", 300 * 1024, "256 KiB"),
        ("PATCH", "/api/cases/x", 50 * 1024**2, "256 KiB"),
        ("POST", "/api/auth/token", 1024**2, "256 KiB"),
        ("POST", f"/api/slides/{SLIDE}/annotations", 33 * 1024**2, "32 MiB annotations"),
        ("PUT", f"/api/slides/{SLIDE}/annotations/{SLIDE}", 33 * 1024**2, "32 MiB annotations"),
        ("PUT", "/api/transfers/x/ranges/0", 8 * 1024**2 + 1, "8 MiB a transfer range"),
        ("POST", "/api/transfers", 300 * 1024, "256 KiB"),
        ("PATCH", f"/api/uploads/{SLIDE}", 200_001, "an upload"),
        ("POST", "/api/slides", 200_000 + 1024**2 + 1, "a slide file"),
    ],
)
def test_a_body_announced_over_the_limit_is_refused_unread_and_before_the_credential(
    base: str, method: str, path: str, length: int, words: str
) -> None:
    status, body = head_only(base, method, path, length)
    assert status == 413, body
    assert words in json.loads(body)["detail"]


def test_the_refusal_is_said_in_the_browsers_language(base: str) -> None:
    """No user is known before the body: the browser's language, the route's name in it."""
    status, body = head_only(base, "PUT", "/api/transfers/x/ranges/0", 8 * 1024**2 + 1, "zh-CN")
    assert status == 413
    assert json.loads(body)["detail"] == "请求体超过了一个传输字节段允许的 8 MiB"


def test_a_body_within_the_limit_reaches_the_route(base: str, world: World) -> None:
    # No credential: the route answers 401; with one, the case is made.
    assert httpx.post(f"{base}/api/cases", json=REQUEST).status_code == 401
    answer = httpx.post(f"{base}/api/cases", json=REQUEST, headers=world.auth("tech_north"))
    assert answer.status_code == 201, answer.text


def _chunks(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    yield b'{"history": "'
    for _ in range(total // size):
        yield b"x" * size
    yield b'"}'


def test_a_chunked_body_is_cut_at_the_limit(base: str, world: World) -> None:
    """Without Content-Length the body is counted as it arrives."""
    answer = httpx.post(
        f"{base}/api/cases", content=_chunks(1024**2), headers=world.auth("tech_north")
    )
    assert answer.status_code == 413, answer.text
    assert "256 KiB" in answer.json()["detail"]
    # A streamed route: the slide upload reads its form as it arrives (its own limit on
    # the file, or the count here, whichever comes first).
    boundary = "b0undary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.svs"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()

    def form() -> Iterator[bytes]:
        yield head
        for _ in range(40):
            yield b"\0" * 64 * 1024

    answer = httpx.post(
        f"{base}/api/slides",
        content=form(),
        headers={
            **world.auth("tech_north"),
            "Content-Type": f"multipart/form-data; boundary={boundary}",
        },
    )
    assert answer.status_code == 413, answer.text
