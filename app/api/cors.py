"""CORS for the IIIF Image API: viewers on other origins read `/iiif/` with bearer tokens.

Only `/iiif/` answers other origins (the rest of the API is same-origin; uploads
have their own rule). The origins allowed are `Settings.iiif_cors_origins`; `*`
lets any origin read, as the IIIF spec recommends and its validator checks.
That is safe because a cross-origin read needs a bearer token: credentials are
never allowed (no `Access-Control-Allow-Credentials`), so a browser never shows
another origin an answer made with the user's cookie; and a request that carries
a cookie is never answered `*` (only an origin listed by name is named back).
`Authorization` is the one request header allowed beyond the simple ones;
`ETag` and `Link` (the IIIF profile) are exposed to the viewer's script.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PREFIX = "/iiif/"


class IiifCors:
    def __init__(self, app: ASGIApp, origins: list[str]) -> None:
        self.app = app
        self.cors = CORSMiddleware(
            app,
            allow_origins=origins,
            allow_methods=["GET", "HEAD", "OPTIONS"],
            allow_headers=["Authorization"],
            allow_credentials=False,
            expose_headers=["ETag", "Link"],
            max_age=86400,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(PREFIX):
            await self.app(scope, receive, send)
            return
        if "cookie" not in Headers(scope=scope):
            await self.cors(scope, receive, send)
            return

        async def send_without_star(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    (name, value)
                    for name, value in message.get("headers", [])
                    if (name.lower(), value) != (b"access-control-allow-origin", b"*")
                ]
            await send(message)

        await self.cors(scope, receive, send_without_star)
