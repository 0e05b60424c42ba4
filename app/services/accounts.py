"""Sites, users and tokens: the operations the API and the command line share.

Most functions take a session and leave committing to the caller (`Database.write()`);
`sign_in` runs its own transactions and records the audit event.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from app.core import audit
from app.core.audit import Actor
from app.core.config import Settings
from app.core.db import Database
from app.core.errors import (
    AuthenticationError,
    ConflictError,
    TooManyRequestsError,
    UnprocessableError,
)
from app.core.i18n import LANGUAGES, N_
from app.core.security import hash_password, new_token, password_checks, token_digest
from app.models.accounts import (
    SITE_ROLES,
    ApiToken,
    Role,
    Site,
    SiteCover,
    SiteCreate,
    TokenKind,
    User,
    UserCreate,
    UserPublic,
)
from app.models.audit import Outcome
from app.models.types import utcnow
from app.services import throttle


def create_site(session: Session, data: SiteCreate) -> Site:
    if session.exec(select(Site).where(Site.code == data.code)).first() is not None:
        raise ConflictError(N_("site {code} exists", code=repr(data.code)))
    site = Site.model_validate(data)
    session.add(site)
    session.flush()
    return site


def site_by_code(session: Session, code: str) -> Site:
    site = session.exec(select(Site).where(Site.code == code)).first()
    if site is None:
        raise UnprocessableError(N_("no site {code}", code=repr(code)))
    return site


def create_user(session: Session, data: UserCreate, *, password_hash: str | None = None) -> User:
    """A user with the site rules of their role: staff belong to one site, pathologists cover.

    `password_hash`, when given, must be `data.password` hashed already: tests and
    benchmarks seed many users with one password and argon2 is slow on purpose."""
    if data.role in SITE_ROLES and not data.site:
        raise UnprocessableError(N_("a {role} belongs to a site: give --site", role=data.role))
    if data.role not in SITE_ROLES and data.site:
        raise UnprocessableError(N_("a {role} does not belong to one site", role=data.role))
    if data.role != Role.pathologist and data.covers:
        raise UnprocessableError(N_("only pathologists cover sites"))
    if session.exec(select(User).where(User.username == data.username)).first() is not None:
        raise ConflictError(N_("user {username} exists", username=repr(data.username)))
    site = site_by_code(session, data.site) if data.site else None
    covered = [site_by_code(session, code) for code in dict.fromkeys(data.covers)]
    user = User(
        username=data.username,
        role=data.role,
        full_name=data.full_name,
        site_id=site.id if site else None,
        password_hash=password_hash or hash_password(data.password),
    )
    session.add(user)
    session.flush()
    for covered_site in covered:
        session.add(SiteCover(user_id=user.id, site_id=covered_site.id))
    try:
        session.flush()
    except IntegrityError as error:  # a concurrent add of the same name
        raise ConflictError(N_("user {username} exists", username=repr(data.username))) from error
    return user


def user_public(session: Session, user: User) -> UserPublic:
    site = session.get(Site, user.site_id) if user.site_id else None
    covers: Sequence[str] = session.exec(
        select(Site.code).join(SiteCover).where(SiteCover.user_id == user.id)
    ).all()
    return UserPublic(
        id=user.id,
        username=user.username,
        role=user.role,
        full_name=user.full_name,
        site=site.code if site else None,
        covers=sorted(covers),
        is_active=user.is_active,
        language=user.language,
    )


def authenticate(db: Database, settings: Settings, username: str, password: str) -> User:
    """The user, if the password is right; argon2 runs in the process's bounded pool
    (`Settings.login_verify_workers`), outside any database session."""
    with db.read() as session:
        user = session.exec(select(User).where(User.username == username)).first()
    checks = password_checks(settings.login_verify_workers, settings.login_verify_queue)
    # Verified even for unknown names, so the answer time reveals nothing.
    ok = checks.verify(password, user.password_hash if user else None)
    if user is None or not ok or not user.is_active:
        raise AuthenticationError(N_("wrong user name or password"))
    return user


def issue_token(
    session: Session,
    user: User,
    kind: TokenKind,
    lifetime: timedelta,
    secret_key: str,
    *,
    kiosk_site_id: uuid.UUID | None = None,
) -> tuple[str, ApiToken]:
    """A new random token for `user`; the clear text is returned once and never stored."""
    token = new_token()
    now = utcnow()
    row = ApiToken(
        user_id=user.id,
        kind=kind,
        digest=token_digest(token, secret_key),
        expires_at=now + lifetime,
        last_used_at=now,
        kiosk_site_id=kiosk_site_id,
    )
    session.add(row)
    session.flush()
    return token, row


@dataclass(frozen=True)
class Credential:
    """A checked bearer token or browser session: whose, and which row (for re-checks)."""

    token_id: uuid.UUID
    kind: TokenKind
    user: User
    kiosk_site_id: uuid.UUID | None
    last_used_at: datetime | None


def refusal(row: ApiToken, user: User | None, settings: Settings, now: datetime) -> str | None:
    """Why the credential `row` of `user` no longer stands, or None: the one rule for a
    request and for an open stream's re-check."""
    if user is None or not user.is_active:  # first: disabling revokes the tokens too
        return N_("user disabled")
    if row.revoked_at is not None:
        return N_("token revoked")
    if row.expires_at <= now:
        return N_("token expired")
    if row.kind == TokenKind.session and row.kiosk_site_id is None:
        last_used = row.last_used_at or row.created_at
        if last_used + timedelta(seconds=settings.session_idle_seconds) <= now:
            return N_("signed out after inactivity")
    return None


def check_token(session: Session, token: str, kind: TokenKind, settings: Settings) -> Credential:
    row = session.exec(
        select(ApiToken).where(
            ApiToken.digest == token_digest(token, settings.secret_key), ApiToken.kind == kind
        )
    ).first()
    if row is None:
        raise AuthenticationError(N_("unknown token"))
    user = session.get(User, row.user_id)
    reason = refusal(row, user, settings, utcnow())
    if reason is not None:
        raise AuthenticationError(reason)
    assert user is not None
    return Credential(row.id, row.kind, user, row.kiosk_site_id, row.last_used_at)


def user_for_token(session: Session, token: str, kind: TokenKind, settings: Settings) -> User:
    return check_token(session, token, kind, settings).user


def touch(db: Database, credential: Credential, settings: Settings) -> None:
    """Record that a session is in use, at most every tenth of the idle timeout (and at
    least every minute): one small write now and then, not one per request."""
    if credential.kind != TokenKind.session:
        return
    every = min(60.0, settings.session_idle_seconds / 10)
    now = utcnow()
    last = credential.last_used_at
    if last is not None and (now - last).total_seconds() < every:
        return
    with db.write() as session:
        session.execute(
            update(ApiToken).where(col(ApiToken.id) == credential.token_id).values(last_used_at=now)
        )


def revoke_user_tokens(session: Session, user_id: uuid.UUID) -> int:
    """Revoke every token and session of a user; answers how many were live."""
    result = session.execute(
        update(ApiToken)
        .where(col(ApiToken.user_id) == user_id, col(ApiToken.revoked_at).is_(None))
        .values(revoked_at=utcnow())
    )
    return int(getattr(result, "rowcount", 0) or 0)


def set_active(session: Session, username: str, active: bool) -> User:
    """Enable or disable a user; disabling also revokes every token and session, so
    open streams end and tiles stop within their re-check time."""
    user = session.exec(select(User).where(User.username == username[:64])).first()
    if user is None:
        raise UnprocessableError(N_("no user {username}", username=repr(username[:64])))
    user.is_active = active
    session.add(user)
    if not active:
        revoke_user_tokens(session, user.id)
    session.flush()
    return user


def revoke_token(session: Session, token: str, secret_key: str) -> ApiToken | None:
    """Revoke a token or session; returns it, or None if unknown or already revoked."""
    row = session.exec(
        select(ApiToken).where(ApiToken.digest == token_digest(token, secret_key))
    ).first()
    if row is None or row.revoked_at is not None:
        return None
    row.revoked_at = utcnow()
    session.add(row)
    return row


def sign_in(
    db: Database,
    settings: Settings,
    username: str,
    password: str,
    kind: TokenKind,
    client: str | None,
) -> tuple[User, str]:
    """Check the password, then issue a bearer token or a browser session; audited
    (`auth.token` or `auth.login`), refusals included.

    A locked account or address (`app.services.throttle`), an account whose password
    is being checked already, and a full password-check pool are refused with
    `TooManyRequestsError` before argon2 runs."""
    action = "auth.login" if kind == TokenKind.session else "auth.token"
    lifetime = (
        timedelta(hours=settings.session_hours)
        if kind == TokenKind.session
        else timedelta(minutes=settings.token_minutes)
    )
    refused_as = Actor(None, username[:64], client)
    try:
        had_failures = throttle.check(db, settings, username, client)
        with throttle.one_check_per_account(username):
            user = authenticate(db, settings, username, password)
    except TooManyRequestsError as refused:
        # One burst per locked key: a spray of user names from a locked address is one.
        burst = f"{action}:{refused.scope or username[:64]}"
        audit.refusals.refuse(db, refused_as, action, burst, refused.reason)
        raise
    except AuthenticationError as error:
        throttle.record_failure(db, settings, username, client)
        audit.record(db, refused_as, action, Outcome.denied, detail=error.reason)
        raise
    if had_failures:
        throttle.record_success(db, username)
    with db.write() as session:
        token, _ = issue_token(session, user, kind, lifetime, settings.secret_key)
    audit.record(db, Actor.of(user, client), action, Outcome.success)
    return user, token


def set_language(session: Session, user_id: uuid.UUID, language: str | None) -> User:
    """The user's language for the pages; None: follow the browser's."""
    if language is not None and language not in LANGUAGES:
        raise UnprocessableError(N_("no such language: {language}", language=language[:16]))
    user = session.get(User, user_id)
    if user is None:
        raise UnprocessableError(N_("no such user"))
    user.language = language
    session.add(user)
    session.flush()
    return user
