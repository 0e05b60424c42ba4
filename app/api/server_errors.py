"""The last line behind every route: an unexpected exception becomes a 500 with an
incident number, and the log gets the number, the request line, the exception types
and the stack, never an exception's message.

Messages are where patient data leaks: a database error repeats the statement's
parameters (an MRN, a name), a pydantic error the refused input. SQLAlchemy is told to
hide parameters too (`app.core.db`), but this catches every other kind. Starlette's
own last handler re-raises for the server to log the whole exception, so this sits
inside it, outermost of our middleware, and raises nothing.

Pure ASGI, like `app.api.headers`: no task per request on the tile path.
"""

from __future__ import annotations

import json
import logging
import traceback
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)


def withheld_traceback(error: BaseException) -> str:
    """The stack of `error` and of the exceptions it came from, with their types and
    without their messages."""
    parts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        kind = type(current)
        frames = "".join(traceback.format_tb(current.__traceback__))
        parts.append(
            f"Traceback (most recent call last):\n{frames}"
            f"{kind.__module__}.{kind.__qualname__} (message withheld: it may hold patient data)"
        )
        current = current.__cause__ or (
            None if current.__suppress_context__ else current.__context__
        )
    return "\n\nwhich came from:\n".join(reversed(parts))


class ServerErrors:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except Exception as error:
            incident = uuid.uuid4().hex[:12]
            # The path holds ids only (no patient data goes into a URL); the query is left out.
            log.error(
                "incident %s: %s %s failed\n%s",
                incident,
                scope.get("method", "?"),
                str(scope.get("path", ""))[:200],
                withheld_traceback(error),
            )
            if not started:
                await _answer(send, incident)


async def _answer(send: Send, incident: str) -> None:
    body = json.dumps({"detail": f"internal error (incident {incident})"}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": 500, "headers": headers})
    await send({"type": "http.response.body", "body": body})
