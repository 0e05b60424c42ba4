"""Passwords (argon2id) and opaque tokens (random, stored as an HMAC digest).

Bearer tokens and session cookies are random strings, not JWTs: a stolen
database does not reveal them (only digests are stored, keyed by the secret
key), and revoking one is deleting its power at once, which a signed
self-contained token cannot offer before it expires.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from app.core.errors import TooManyRequestsError
from app.core.i18n import N_

#: argon2-cffi's defaults are RFC 9106's second recommended argon2id profile.
_hasher = PasswordHasher()
#: Verified against when the user does not exist, so timing does not reveal user names.
_DUMMY_HASH = _hasher.hash("not-a-real-password-" + secrets.token_hex(8))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password: str, password_hash: str | None) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_digest(token: str, secret_key: str) -> str:
    return hmac.new(secret_key.encode(), token.encode(), hashlib.sha256).hexdigest()


class PasswordChecks:
    """At most `workers` argon2 verifications at once, at most `queue` waiting for one.

    One argon2id verification takes ~64 MiB and more than a core for ~0.1 s: a flood of
    sign-ins would otherwise take every core from tile serving. A caller beyond the
    queue is refused at once (429) rather than holding one of the request threads."""

    def __init__(self, workers: int, queue: int) -> None:
        self._slots = threading.BoundedSemaphore(workers)
        self._room = threading.BoundedSemaphore(workers + queue)

    def verify(self, password: str, password_hash: str | None) -> bool:
        if not self._room.acquire(blocking=False):
            raise TooManyRequestsError(
                N_("too many sign-ins at once: try again"), retry_after=1, scope="busy"
            )
        try:
            with self._slots:
                return verify_password(password, password_hash)
        finally:
            self._room.release()


@cache
def password_checks(workers: int, queue: int) -> PasswordChecks:
    """The process's bounded pool for these settings (one per process, whatever the app)."""
    return PasswordChecks(workers, queue)
