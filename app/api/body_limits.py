"""How large a request body each route takes, enforced before any route code runs.

Without this a 50 MB JSON body was read and parsed before the credential check said
401. Here, before the app sees the request:

- a `Content-Length` above the route's limit is a 413 at once, nothing read;
- a body within its `Content-Length` goes on as it is (the server reads no further);
- a chunked body of a buffered route (JSON and forms: cases, annotations, sign-in) is
  read here up to its limit and handed on, so neither parsing nor the credential
  check ever holds more than the limit; past it, a 413;
- a chunked body of a streamed route (slide files, tus chunks, transfer ranges) goes on
  to the route as it arrives, counted: past the limit the route's read fails with a 413.
  Those routes also check their own protocol's limits (Upload-Length, a range's size).

A 413 closes the connection: otherwise the server would read and drop the rest of a
body nobody uses (over an island link, minutes of it).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from fastapi import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.language import signed_out_language
from app.core.config import Settings
from app.core.errors import PayloadTooLargeError
from app.core.i18n import N_, translate
from app.services.transfers.protocol import MAX_RANGE_BYTES

_MULTIPART_OVERHEAD = 1024 * 1024  # the form's other fields and boundaries around the file


@dataclass(frozen=True)
class BodyLimit:
    """`limit` bytes for the requests whose method is in `methods` and whose path matches."""

    name: str  # said in the refusal (a `Message`, translated inside it): what the route takes
    methods: frozenset[str]
    path: re.Pattern[str]
    limit: int
    streamed: bool = False


def body_limits(settings: Settings) -> list[BodyLimit]:
    """The routes with their own limit, first match wins; every other body gets
    `max_json_body_bytes`."""
    file = settings.max_upload_bytes
    streamed = [
        (N_("a slide file"), {"POST"}, r"/api/slides/?", file + _MULTIPART_OVERHEAD),
        (
            N_("a slide of several files"),
            {"POST"},
            r"/api/slides/sets/?",
            file + _MULTIPART_OVERHEAD,
        ),
        (N_("an upload"), {"POST", "PATCH"}, r"/api/uploads(/[^/]*)?", file),
        (N_("a transfer range"), {"PUT"}, r"/api/transfers/[^/]+/ranges/[^/]+", MAX_RANGE_BYTES),
    ]
    annotations = BodyLimit(
        N_("annotations"),
        frozenset({"POST", "PUT"}),
        re.compile(r"/api/slides/[^/]+/annotations(/[^/]+)?"),
        settings.max_annotation_body_bytes,
    )
    return [annotations] + [
        BodyLimit(name, frozenset(methods), re.compile(path), limit, streamed=True)
        for name, methods, path, limit in streamed
    ]


def _size(limit: int) -> str:
    for unit, factor in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if limit >= factor:
            return f"{limit / factor:g} {unit}"
    return f"{limit} bytes"


class BodyLimits:
    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.rules = body_limits(settings)
        self.default = settings.max_json_body_bytes

    def rule_for(self, method: str, path: str) -> BodyLimit:
        for rule in self.rules:
            if method in rule.methods and rule.path.fullmatch(path):
                return rule
        return BodyLimit(N_("this request"), frozenset(), re.compile(""), self.default)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rule = self.rule_for(scope["method"], scope["path"])
        refusal = N_(
            "the body is larger than the {size} {name} may have",
            size=_size(rule.limit),
            name=rule.name,
        )
        declared, chunked = _framing(scope)
        if declared is not None and declared > rule.limit:
            await _refuse(scope, send, refusal)
        elif not chunked:
            # No body, or one the server stops at its Content-Length: within the limit.
            await self.app(scope, receive, send)
        elif rule.streamed:
            await self.app(scope, _counting(receive, rule.limit, refusal), send)
        elif (body := await _read(receive, rule.limit)) is None:
            await _refuse(scope, send, refusal)
        else:
            await self.app(scope, _replaying(body, receive), send)


def _framing(scope: Scope) -> tuple[int | None, bool]:
    """(Content-Length, whether the body is chunked) of the request."""
    declared: int | None = None
    chunked = False
    for name, value in scope["headers"]:
        if name == b"content-length" and value.strip().isdigit():
            declared = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    return declared, chunked and declared is None


async def _read(receive: Receive, limit: int) -> bytes | None:
    """The whole body, or None once it passes `limit` (the rest is not read)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks)  # the client left: the route sees a short body
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replaying(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # after the body: the disconnect, when it comes

    return replay


def _counting(receive: Receive, limit: int, refusal: str) -> Receive:
    size = 0

    async def counted() -> Message:
        nonlocal size
        message = await receive()
        if message["type"] == "http.request":
            size += len(message.get("body", b""))
            if size > limit:
                raise PayloadTooLargeError(refusal)
        return message

    return counted


async def _refuse(scope: Scope, send: Send, reason: str) -> None:
    # Before the app: no user yet, so the browser's language (cookie, Accept-Language).
    detail = translate(reason, signed_out_language(Request(scope)))
    body = json.dumps({"detail": detail}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})
