"""Bearer tokens for scripts: OAuth2 password form in, a short-lived revocable token out."""

from __future__ import annotations

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
    client_address,
)
from app.core import audit
from app.core.errors import AuthenticationError
from app.models.accounts import Token, TokenKind, UserPublic
from app.models.audit import Outcome
from app.services import accounts as crud

router = APIRouter(prefix="/api", tags=["auth"])


@router.post("/auth/token")
def login_for_token(
    request: Request,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    db: DatabaseDep,
    settings: SettingsDep,
) -> Token:
    _, token = crud.sign_in(
        db, settings, form.username, form.password, TokenKind.bearer, client_address(request)
    )
    return Token(access_token=token)


def _revoke(request: Request, actor: ActorDep, db: DatabaseDep, settings: SettingsDep) -> Response:
    token = bearer_token(request)
    if token is None:
        raise AuthenticationError("revoke a bearer token with that token")
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
def me(user: CurrentUser, session: SessionDep) -> UserPublic:
    return crud.user_public(session, user)
