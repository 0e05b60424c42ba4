"""Admitting an event stream: room for it under the per-user cap (a refusal is a 429,
audited), and the lease on its checked credential that the stream will hold."""

from __future__ import annotations

from functools import partial

from fastapi import Request

from app.core import audit
from app.core.errors import TooManyRequestsError
from app.services.accounts import Credential
from app.services.context import Context
from app.services.streams import StreamGuard, StreamLeases


def open_stream(request: Request, ctx: Context, action: str) -> StreamLeases:
    """After `request_context`, in its thread: the stream's lease, once there is room."""
    guard: StreamGuard = request.app.state.streams
    credential: Credential = request.state.credential
    try:
        guard.check_room(credential)
    except TooManyRequestsError as error:
        key = f"streams:{credential.user.id}"
        audit.refusals.refuse(ctx.db, ctx.actor, action, key, error.reason)
        raise
    return partial(guard.lease, credential)
