"""Bearer tokens for scripts: OAuth2 password form in, a short-lived revocable token out;
who is signed in; and the operating-room screen's kiosk session."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.security import OAuth2PasswordRequestForm

from app.api.deps import (
    ActorDep,
    CurrentUser,
    DatabaseDep,
    SessionDep,
    SettingsDep,
    bearer_token,
)
from app.api.session_cookie import set_session_cookie
from app.api.sign_in import sign_in
from app.core import audit
from app.core.errors import AuthenticationError, PermissionDeniedError
from app.core.i18n import N_
from app.models.accounts import SITE_ROLES, Token, TokenKind, UserPublic
from app.models.audit import Outcome
from app.services import accounts as crud

router = APIRouter(prefix="/api", tags=["auth"])


@router.post("/auth/token")
async def login_for_token(
    request: Request, form: Annotated[OAuth2PasswordRequestForm, Depends()]
) -> Token:
    """A bearer token; 429 with Retry-After after too many failed sign-ins."""
    _, token = await sign_in(request, form.username, form.password, TokenKind.bearer)
    return Token(access_token=token)


def _revoke(request: Request, actor: ActorDep, db: DatabaseDep, settings: SettingsDep) -> Response:
    token = bearer_token(request)
    if token is None:
        raise AuthenticationError(N_("revoke a bearer token with that token"))
    with db.write() as session:
        crud.revoke_token(session, token, settings.secret_key)
    audit.record(db, actor, "auth.revoke", Outcome.success)
    return Response(status_code=204)


router.add_api_route(
    "/auth/revoke", _revoke, methods=["POST"], status_code=204, summary="Revoke this token"
)
router.add_api_route(
    "/auth/token", _revoke, methods=["DELETE"], status_code=204, summary="Revoke this token"
)


@router.get("/users/me")
def me(request: Request, user: CurrentUser, session: SessionDep) -> UserPublic:
    public = crud.user_public(session, user)
    public.kiosk = request.state.credential.kiosk_site_id is not None
    return public


@router.post("/auth/kiosk", status_code=204)
def start_kiosk(
    request: Request, user: CurrentUser, actor: ActorDep, db: DatabaseDep, settings: SettingsDep
) -> Response:
    """Turn this browser's session into the operating-room kiosk of the user's site: no
    idle timeout, `kiosk_hours` long, and good only for that site's operating-room
    screen (`app.api.kiosk`). The ordinary session is revoked."""
    cookie = request.cookies.get(settings.cookie_name)
    if bearer_token(request) is not None or not cookie:
        raise AuthenticationError(N_("a kiosk is a browser session: sign in on the screen"))
    if user.role not in SITE_ROLES or user.site_id is None:
        audit.record(db, actor, "auth.kiosk", Outcome.denied)
        raise PermissionDeniedError(N_("kiosk screens are for the site's surgeons and technicians"))
    with db.write() as session:
        crud.revoke_token(session, cookie, settings.secret_key)
        token, _ = crud.issue_token(
            session,
            user,
            TokenKind.session,
            timedelta(hours=settings.kiosk_hours),
            settings.secret_key,
            kiosk_site_id=user.site_id,
        )
    audit.record(db, actor, "auth.kiosk", Outcome.success, site_id=user.site_id)
    response = Response(status_code=204)
    set_session_cookie(response, settings, token, settings.kiosk_hours)
    return response
