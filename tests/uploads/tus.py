"""A few raw tus requests for protocol tests (the real clients are tested elsewhere)."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import World

TUS = {"Tus-Resumable": "1.0.0"}
BODY = {"Content-Type": "application/offset+octet-stream"}


def metadata(**values: str | bytes) -> str:
    def enc(value: str | bytes) -> str:
        raw = value if isinstance(value, bytes) else value.encode()
        return base64.b64encode(raw).decode()

    return ",".join(f"{key} {enc(value)}" for key, value in values.items())


def create(
    client: TestClient, world: World, user: str, length: int, body: bytes | None = None,
    **meta: str | bytes,
) -> Any:  # fmt: skip
    headers = {**TUS, **world.auth(user), "Upload-Length": str(length)}
    if meta:
        headers["Upload-Metadata"] = metadata(**meta)
    if body is not None:
        headers.update(BODY)
    return client.post("/api/uploads/", headers=headers, content=body)


def patch(
    client: TestClient, world: World, user: str, location: str, offset: int, data: bytes,
    checksum: str | None = None, algorithm: str = "sha1",
) -> Any:  # fmt: skip
    headers = {**TUS, **BODY, **world.auth(user), "Upload-Offset": str(offset)}
    if checksum == "good":
        digest = hashlib.new(algorithm, data).digest()
        headers["Upload-Checksum"] = f"{algorithm} {base64.b64encode(digest).decode()}"
    elif checksum == "bad":
        digest = hashlib.new(algorithm, data + b"x").digest()
        headers["Upload-Checksum"] = f"{algorithm} {base64.b64encode(digest).decode()}"
    return client.patch(location, headers=headers, content=data)


def head(client: TestClient, world: World, user: str, location: str) -> Any:
    return client.head(location, headers={**TUS, **world.auth(user)})
