"""Headers on every answer: nosniff, the referrer rule, no-store on API JSON, HSTS over
TLS, and no cached patient images on shared workstations.

Pure ASGI rather than BaseHTTPMiddleware, which costs a task per request on the tile path.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.config import Settings

#: Our own pages send their URL as Referer to us only (never a slide or case id to another
#: site), and with it a real `Origin` on their form posts: under `no-referrer` a browser
#: sends `Origin: null` on a same-origin form post (Fetch standard), which the
#: same-origin check could not tell from a sandboxed attacker's page.
REFERRER_POLICY = b"same-origin"


def _private_cache(value: bytes) -> bool:
    directives = {part.strip().split(b"=")[0] for part in value.lower().split(b",")}
    return b"private" in directives and b"no-store" not in directives


class SecurityHeaders:
    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self.hsts = f"max-age={settings.hsts_seconds}".encode() if settings.hsts_seconds else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        is_api = scope["path"].startswith("/api/")
        # uvicorn's proxy_headers make this "https" behind a TLS proxy it trusts.
        hsts = self.hsts if scope.get("scheme") == "https" else None
        shared = self.settings.shared_workstations

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = []
                names = set()
                for name, value in message.get("headers", []):
                    names.add(name.lower())
                    if shared and name.lower() == b"cache-control" and _private_cache(value):
                        # Tiles, IIIF and slide images: nothing of a patient on the disk
                        # of a browser the next user of the workstation opens.
                        value = b"private, no-store"
                    headers.append((name, value))
                headers.append((b"x-content-type-options", b"nosniff"))
                headers.append((b"referrer-policy", REFERRER_POLICY))
                if is_api and b"cache-control" not in names:
                    headers.append((b"cache-control", b"no-store"))
                if hsts is not None:
                    headers.append((b"strict-transport-security", hsts))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
