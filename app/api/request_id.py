"""Every request gets an id: the proxy's `X-Request-ID` when it comes from a trusted
proxy (nginx's `$request_id`, so its log and ours match), else one of our own.

The id is answered in `X-Request-ID`, is on every log line of the request (JSON
logs) and on every audit row it writes. A client's own header is not believed: it
could make its requests look like someone else's in the audit trail.

This middleware runs before the proxy headers are applied (`create_app` puts
uvicorn's `ProxyHeadersMiddleware` inside it), so it judges the peer that
connected, not the address the proxy reports.
"""

from __future__ import annotations

import ipaddress

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core import request_id

HEADER = b"x-request-id"


class TrustedPeers:
    """`forwarded_allow_ips`: comma-separated addresses and networks, or `*`."""

    def __init__(self, spec: str) -> None:
        items = [item.strip() for item in spec.split(",") if item.strip()]
        self.everyone = "*" in items
        self.networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        self.literals: set[str] = set()
        for item in items:
            try:
                self.networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                self.literals.add(item)  # a unix socket's name, a test client's

    def __contains__(self, host: str | None) -> bool:
        if host is None:
            return False
        if self.everyone or host in self.literals:
            return True
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in self.networks)


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp, trusted: str) -> None:
        self.app = app
        self.trusted = TrustedPeers(trusted)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        offered = None
        if client is not None and client[0] in self.trusted:
            for name, value in scope["headers"]:
                if name == HEADER:
                    offered = value.decode("latin-1")
        rid = offered if request_id.acceptable(offered) else request_id.new()
        assert rid is not None

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), (HEADER, rid.encode("latin-1"))]
            await send(message)

        token = request_id.set_current(rid)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id.reset(token)
