"""The bus on PostgreSQL LISTEN/NOTIFY, for a hub with PostgreSQL and no Redis.

A notification's payload is at most 8000 bytes; a case snapshot can be longer, so a
message goes out in numbered parts sent in one transaction (PostgreSQL delivers a
transaction's notifications together and in order) and is put together again here.
"""

from __future__ import annotations

import threading
import uuid

import psycopg
from psycopg import sql
from sqlalchemy.engine import URL

from app.core.bus.base import Bus

#: Characters of message per notification (JSON is ASCII here, so bytes), under 8000.
PART = 7000
#: Seconds the listener waits for a notification before looking at its stop flag.
POLL_SECONDS = 0.5


def conninfo(url: URL) -> str:
    """A libpq URI for SQLAlchemy's `postgresql+psycopg://` URL (query options kept)."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


class PostgresBus(Bus):
    name = "postgresql"

    def __init__(self, url: URL, channel: str) -> None:
        super().__init__()
        self.channel = channel
        self._conninfo = conninfo(url)
        self._sender: psycopg.Connection[tuple[object, ...]] | None = None

    def _transmit(self, text: str) -> None:
        if self._sender is None or self._sender.closed:
            self._sender = psycopg.connect(self._conninfo, autocommit=True, connect_timeout=5)
        key = uuid.uuid4().hex[:12]
        parts = [text[at : at + PART] for at in range(0, len(text), PART)] or [""]
        try:
            with self._sender.transaction():
                for index, part in enumerate(parts):
                    self._sender.execute(
                        "SELECT pg_notify(%s, %s)",
                        (self.channel, f"{key}:{index}:{len(parts)}:{part}"),
                    )
        except psycopg.Error:
            self._sender.close()
            raise

    def _close(self) -> None:
        if self._sender is not None:
            self._sender.close()
            self._sender = None

    def _listen(self, stop: threading.Event) -> None:
        with psycopg.connect(
            self._conninfo, autocommit=True, connect_timeout=5, application_name=self.channel
        ) as connection:
            connection.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))
            self._subscribed()
            pending: dict[str, list[str]] = {}
            while not stop.is_set():
                for notify in connection.notifies(timeout=POLL_SECONDS):
                    whole = _assemble(pending, notify.payload)
                    if whole is not None:
                        self._received(whole)


def _assemble(pending: dict[str, list[str]], payload: str) -> str | None:
    """The whole message once its last part is in; parts of one arrive in order."""
    try:
        key, index, count, part = payload.split(":", 3)
        at, total = int(index), int(count)
    except ValueError:
        return None
    if total == 1:
        return part
    parts = pending.setdefault(key, [])
    if at != len(parts):  # a part lost (listener reconnected): drop the message
        pending.pop(key, None)
        return None
    parts.append(part)
    if len(parts) < total:
        return None
    del pending[key]
    return "".join(parts)
