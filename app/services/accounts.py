"""Sites, users and tokens: the operations the API and the command line share.

Most functions take a session and leave committing to the caller (`Database.write()`);
`sign_in` runs its own transactions and records the audit event.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from app.core import audit
from app.core.audit import Actor
from app.core.config import Settings
from app.core.db import Database
from app.core.errors import AuthenticationError, ConflictError, UnprocessableError
from app.core.security import hash_password, new_token, token_digest, verify_password
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


def create_site(session: Session, data: SiteCreate) -> Site:
    if session.exec(select(Site).where(Site.code == data.code)).first() is not None:
        raise ConflictError(f"site {data.code!r} exists")
    site = Site.model_validate(data)
    session.add(site)
    session.flush()
    return site


def site_by_code(session: Session, code: str) -> Site:
    site = session.exec(select(Site).where(Site.code == code)).first()
    if site is None:
        raise UnprocessableError(f"no site {code!r}")
    return site


def create_user(session: Session, data: UserCreate, *, password_hash: str | None = None) -> User:
    """A user with the site rules of their role: staff belong to one site, pathologists cover.

    `password_hash`, when given, must be `data.password` hashed already: tests and
    benchmarks seed many users with one password and argon2 is slow on purpose."""
    if data.role in SITE_ROLES and not data.site:
        raise UnprocessableError(f"a {data.role} belongs to a site: give --site")
    if data.role not in SITE_ROLES and data.site:
        raise UnprocessableError(f"a {data.role} does not belong to one site")
    if data.role != Role.pathologist and data.covers:
        raise UnprocessableError("only pathologists cover sites")
    if session.exec(select(User).where(User.username == data.username)).first() is not None:
        raise ConflictError(f"user {data.username!r} exists")
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
        raise ConflictError(f"user {data.username!r} exists") from error
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
    )


def authenticate(session: Session, username: str, password: str) -> User:
    user = session.exec(select(User).where(User.username == username)).first()
    # verify_password runs even for unknown names, so the answer time reveals nothing.
    ok = verify_password(password, user.password_hash if user else None)
    if user is None or not ok or not user.is_active:
        raise AuthenticationError("wrong user name or password")
    return user


def issue_token(
    session: Session, user: User, kind: TokenKind, lifetime: timedelta, secret_key: str
) -> tuple[str, ApiToken]:
    """A new random token for `user`; the clear text is returned once and never stored."""
    token = new_token()
    row = ApiToken(
        user_id=user.id,
        kind=kind,
        digest=token_digest(token, secret_key),
        expires_at=utcnow() + lifetime,
    )
    session.add(row)
    session.flush()
    return token, row


def user_for_token(session: Session, token: str, kind: TokenKind, secret_key: str) -> User:
    row = session.exec(
        select(ApiToken).where(
            ApiToken.digest == token_digest(token, secret_key), ApiToken.kind == kind
        )
    ).first()
    if row is None:
        raise AuthenticationError("unknown token")
    if row.revoked_at is not None:
        raise AuthenticationError("token revoked")
    if row.expires_at <= utcnow():
        raise AuthenticationError("token expired")
    user = session.get(User, row.user_id)
    if user is None or not user.is_active:
        raise AuthenticationError("user disabled")
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
    (`auth.token` or `auth.login`), refusals included."""
    action = "auth.login" if kind == TokenKind.session else "auth.token"
    lifetime = (
        timedelta(hours=settings.session_hours)
        if kind == TokenKind.session
        else timedelta(minutes=settings.token_minutes)
    )
    try:
        # argon2 takes tens of milliseconds: verify outside the write transaction.
        with db.read() as session:
            user = authenticate(session, username, password)
        with db.write() as session:
            token, _ = issue_token(session, user, kind, lifetime, settings.secret_key)
    except AuthenticationError:
        audit.record(db, Actor(None, username[:64], client), action, Outcome.denied)
        raise
    audit.record(db, Actor.of(user, client), action, Outcome.success)
    return user, token
