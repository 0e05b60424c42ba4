"""Open event streams (and long upload bodies) and the credentials they stand on.

A stream is checked as it opens, then lives for hours. Each open stream holds a
`StreamLease` on its credential; one thread per app re-reads every leased
credential from the database every `Settings.stream_recheck_seconds` (one query
for all of the process's streams, so another process's revocation counts), with
the same rule a request is checked by (`accounts.refusal`). A credential that no
longer stands (expired, revoked, signed out, idle, user disabled) ends its streams:
the lease wakes the stream's loop, which sends a `signed-out` event and closes.

The guard also caps the streams one user holds open in this process.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field

from sqlmodel import col, select

from app.core import audit, metrics
from app.core.config import Settings
from app.core.db import Database
from app.core.errors import TooManyRequestsError
from app.core.i18n import N_
from app.models.accounts import ApiToken, User
from app.models.audit import Outcome
from app.models.types import utcnow
from app.services.accounts import Credential, refusal
from app.services.context import Context
from app.services.live import RESYNC, sse_message

#: Put on a stream's queue to wake its loop; never sent to a client.
WAKE = ""


@dataclass(eq=False)
class StreamLease:
    credential: Credential
    loop: asyncio.AbstractEventLoop
    queues: list[asyncio.Queue[str]] = field(default_factory=list)
    #: Why the credential no longer stands, once it does not.
    reason: str | None = None
    #: Counted against `streams_per_user` (event streams are; an upload's body is not).
    counted: bool = True

    def end(self, reason: str) -> None:
        """On the stream's loop: remember why, and wake the stream."""
        self.reason = reason
        for queue in self.queues:
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(WAKE)


#: Entered by a stream's generator: a generator that never runs leaves no lease behind.
StreamLeases = Callable[[], AbstractAsyncContextManager[StreamLease]]


class StreamGuard:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self._lock = threading.Lock()
        self._leases: set[StreamLease] = set()
        self._watcher: threading.Thread | None = None

    def open_streams(self, user_id: uuid.UUID) -> int:
        with self._lock:
            return sum(
                1 for lease in self._leases if lease.counted and lease.credential.user.id == user_id
            )

    def check_room(self, credential: Credential) -> None:
        """Refuse (429) a stream beyond `streams_per_user` for this user."""
        limit = self.settings.streams_per_user
        if self.open_streams(credential.user.id) >= limit:
            raise TooManyRequestsError(
                N_("{limit} live streams are open for this user already: close a tab", limit=limit),
                retry_after=30,
            )

    @asynccontextmanager
    async def lease(
        self, credential: Credential, *, counted: bool = True
    ) -> AsyncIterator[StreamLease]:
        """Held while a stream (or a long request body) runs on `credential`."""
        lease = StreamLease(credential, asyncio.get_running_loop(), counted=counted)
        # Event streams and upload bodies are the two kinds of long request.
        gauge = metrics.OPEN_STREAMS if counted else metrics.UPLOAD_BODIES
        gauge.inc()
        with self._lock:
            self._leases.add(lease)
            if self._watcher is None:
                self._watcher = threading.Thread(
                    target=self._watch, name="stream-credentials", daemon=True
                )
                self._watcher.start()
        try:
            yield lease
        finally:
            gauge.dec()
            with self._lock:
                self._leases.discard(lease)

    def _watch(self) -> None:
        while True:
            with self._lock:
                if not self._leases:
                    self._watcher = None  # the next lease starts another
                    return
            time.sleep(self.settings.stream_recheck_seconds)
            self.recheck()

    def recheck(self) -> None:
        """Read every leased credential once; end the streams of those that fell."""
        with self._lock:
            leases = list(self._leases)
        ids = {lease.credential.token_id for lease in leases}
        if not ids:
            return
        now = utcnow()
        with self.db.read() as session:
            rows = session.exec(
                select(ApiToken, User)
                .join(User, col(User.id) == col(ApiToken.user_id))
                .where(col(ApiToken.id).in_(ids))
            ).all()
        reasons = {row.id: refusal(row, user, self.settings, now) for row, user in rows}
        for lease in leases:
            reason = reasons.get(lease.credential.token_id, "token revoked")  # row deleted
            if reason is not None and lease.reason is None:
                with contextlib.suppress(RuntimeError):  # the loop closed: the stream is gone
                    lease.loop.call_soon_threadsafe(lease.end, reason)


async def follow(
    queue: asyncio.Queue[str],
    lease: StreamLease,
    is_disconnected: Callable[[], Awaitable[bool]],
    quiet_seconds: float,
    quiet_frame: Callable[[], str],
) -> AsyncIterator[str]:
    """The messages of `queue` (and `quiet_frame()` after each quiet spell) until the
    client leaves, the lease ends (then `lease.reason` says why) or the bus lost events
    (the client reconnects and catches up)."""
    lease.queues.append(queue)
    while lease.reason is None and not await is_disconnected():
        try:
            message = await asyncio.wait_for(queue.get(), timeout=quiet_seconds)
        except TimeoutError:
            yield quiet_frame()
            continue
        if message == RESYNC:
            return
        if message != WAKE:
            yield message


#: A word for each reason (`accounts.refusal`), which the login form turns into a sentence.
SIGN_OUT_CODES = {
    "token revoked": "ended",
    "token expired": "expired",
    "user disabled": "disabled",
    "signed out after inactivity": "idle",
}


def signed_out(ctx: Context, action: str, reason: str) -> str:
    """Record that a stream ended because its credential fell (call it in a thread);
    the frame telling the page why (`reason`, and `code` for the login form's
    `?why=`), which sends it to the login form."""
    audit.record(ctx.db, ctx.actor, action, Outcome.denied, detail=f"stream ended: {reason}")
    return sse_message("signed-out", {"reason": reason, "code": SIGN_OUT_CODES.get(reason)})
