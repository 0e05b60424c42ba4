"""Sign-in throttling per account and per client address, shared through the database.

Each wrong password counts against two keys, the user name tried and the client
address, in a leaky bucket: each failure adds one, and a key's count drains at
`limit` per `login_window_seconds`. Failures at a steady rate below that (a
hospital's staff mistyping now and then, all through one address) never lock; a
burst does. A key whose count reaches its limit is locked: its sign-ins are refused
with 429 and `Retry-After` before any password is checked, for
`login_lockout_seconds`, doubling with each further failure while the count stays
up. The refusal costs no password check and, once this process has seen the lock,
no database read: a flood against a locked account takes no argon2 time from anyone
else, and another user's right password is checked as usual. A right password
clears its account.

The per-address limit is higher than the per-account one: a hospital's
workstations may reach the hub through one address. Refusals of a locked key are
audited in bursts (`app.core.audit.refusals`) so a flood cannot fill the audit table.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert as postgres_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from app.core.config import Settings
from app.core.db import Database
from app.core.errors import TooManyRequestsError
from app.core.i18n import N_
from app.models.throttle import LoginThrottle
from app.models.types import utcnow

#: Expired rows are removed at most this often per process.
PRUNE_SECONDS = 60.0


@dataclass(frozen=True)
class _Key:
    key: str
    what: str  # "account" or "address": said in the refusal
    limit: int


def _keys(settings: Settings, username: str, client: str | None) -> list[_Key]:
    keys = [_Key(f"account:{username[:64]}", "account", settings.login_failures_per_account)]
    if client:
        keys.append(_Key(f"address:{client[:64]}", "address", settings.login_failures_per_address))
    return keys


class _KnownLocks:
    """Locks this process has seen, until they end: a flood against a locked key is
    refused without a database read. Only time ends a lock (a locked account cannot
    sign in to clear it), so a remembered lock is never stale; another process's
    locks are read from the database."""

    MAX = 10_000

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._until: dict[tuple[int, str], datetime] = {}

    def get(self, db: Database, key: str, now: datetime) -> datetime | None:
        with self._lock:
            until = self._until.get((id(db), key))
        return until if until is not None and until > now else None

    def put(self, db: Database, key: str, until: datetime, now: datetime) -> None:
        with self._lock:
            if len(self._until) >= self.MAX:
                self._until = {k: v for k, v in self._until.items() if v > now}
            self._until[(id(db), key)] = until

    def forget(self) -> None:
        """After the table was changed by hand (tests, an operator lifting a lock)."""
        with self._lock:
            self._until.clear()


_known = _KnownLocks()
forget_known_locks = _known.forget


def _refusal(key: _Key, until: datetime, now: datetime) -> TooManyRequestsError:
    seconds = math.ceil((until - now).total_seconds())
    reason = (
        N_("too many failed sign-ins for this account: try again in {seconds} s", seconds=seconds)
        if key.what == "account"
        else N_(
            "too many failed sign-ins for this address: try again in {seconds} s", seconds=seconds
        )
    )
    return TooManyRequestsError(
        reason,
        retry_after=seconds,
        scope=key.key,
    )


def check(db: Database, settings: Settings, username: str, client: str | None) -> bool:
    """Raise `TooManyRequestsError` while the account or the address is locked; else
    answer whether the account has failures on record (cleared by a right password)."""
    keys = {key.key: key for key in _keys(settings, username, client)}
    now = utcnow()
    for key in keys.values():
        until = _known.get(db, key.key, now)
        if until is not None:
            raise _refusal(key, until, now)
    with db.read() as session:
        rows = session.exec(select(LoginThrottle).where(col(LoginThrottle.key).in_(keys))).all()
    locked = [row for row in rows if row.locked_until is not None and row.locked_until > now]
    for row in locked:
        assert row.locked_until is not None
        _known.put(db, row.key, row.locked_until, now)
    if locked:
        row = max(locked, key=lambda row: row.locked_until or now)
        assert row.locked_until is not None
        raise _refusal(keys[row.key], row.locked_until, now)
    return any(row.key.startswith("account:") for row in rows)


_checking: set[str] = set()
_checking_lock = threading.Lock()


@contextmanager
def one_check_per_account(username: str) -> Iterator[None]:
    """At most one password check per user name at a time in this process: before its
    lock, a flood against one account holds one argon2 slot, not the whole pool."""
    with _checking_lock:
        if username in _checking:
            raise TooManyRequestsError(
                N_("a sign-in for this account is being checked: try again"),
                retry_after=1,
                scope=f"account:{username[:64]}",
            )
        _checking.add(username)
    try:
        yield
    finally:
        with _checking_lock:
            _checking.discard(username)


def _ensure_row(db: Database, session: Session, key: str) -> LoginThrottle:
    values = {"key": key, "failures": 0, "last_failure_at": utcnow()}
    insert = sqlite_insert if db.is_sqlite else postgres_insert
    session.execute(insert(LoginThrottle).values(**values).on_conflict_do_nothing())
    # FOR UPDATE: two processes counting the same key must not both write failures + 1
    # (SQLite's BEGIN IMMEDIATE serialises writers already).
    statement = select(LoginThrottle).where(LoginThrottle.key == key).with_for_update()
    return session.exec(statement).one()


def record_failure(db: Database, settings: Settings, username: str, client: str | None) -> None:
    now = utcnow()
    window = timedelta(seconds=settings.login_window_seconds)
    with db.write() as session:
        for key in _keys(settings, username, client):
            row = _ensure_row(db, session, key.key)
            elapsed = (now - row.last_failure_at).total_seconds()
            drained = max(0.0, elapsed) * key.limit / settings.login_window_seconds
            row.failures = max(0.0, row.failures - drained) + 1
            row.last_failure_at = now
            # Half a failure of slack: a burst of `limit` within seconds drains a little.
            if row.failures >= key.limit - 0.5:
                doubling = min(max(0, round(row.failures - key.limit)), 30)
                seconds = min(
                    settings.login_lockout_seconds * 2**doubling, settings.login_lockout_max_seconds
                )
                row.locked_until = now + timedelta(seconds=seconds)
                _known.put(db, row.key, row.locked_until, now)
            session.add(row)
        _prune(session, now - window, now)


def record_success(db: Database, username: str) -> None:
    with db.write() as session:
        statement = delete(LoginThrottle).where(
            col(LoginThrottle.key) == f"account:{username[:64]}"
        )
        session.execute(statement)


_last_prune = 0.0


def _prune(session: Session, forgotten_before: datetime, now: datetime) -> None:
    """Remove rows whose failures are forgotten and whose lock is over (a spray of
    random user names must not grow the table for ever)."""
    global _last_prune
    if time.monotonic() - _last_prune < PRUNE_SECONDS:
        return
    _last_prune = time.monotonic()
    session.execute(
        delete(LoginThrottle).where(
            col(LoginThrottle.last_failure_at) < forgotten_before,
            (col(LoginThrottle.locked_until).is_(None)) | (col(LoginThrottle.locked_until) < now),
        )
    )
