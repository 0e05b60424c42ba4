"""Typed dependencies shared by the routes: settings, database session, current user.

Both credentials work everywhere: `Authorization: Bearer <token>` for scripts and
the session cookie for the browser (so OpenSeadragon's tile requests carry it).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Request
from sqlmodel import Session

from app.core.audit import Actor
from app.core.config import Settings
from app.core.db import Database
from app.core.errors import AuthenticationError, PermissionDeniedError
from app.models.accounts import Role, TokenKind, User
from app.services import accounts as crud
from app.services.context import Context
from app.services.live import LiveHub
from app.services.tiles import TileService
from workers.dispatch import Dispatcher

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def get_settings(request: Request) -> Settings:
    settings = request.app.state.settings
    assert isinstance(settings, Settings)
    return settings


def get_db(request: Request) -> Database:
    db = request.app.state.db
    assert isinstance(db, Database)
    return db


SettingsDep = Annotated[Settings, Depends(get_settings)]
DatabaseDep = Annotated[Database, Depends(get_db)]


def get_session(db: DatabaseDep) -> Iterator[Session]:
    with db.read() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def bearer_token(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def _same_origin(request: Request) -> bool:
    # SameSite=Lax already keeps the cookie off cross-site POSTs in current browsers;
    # this also covers older ones. Requests without Origin are not from a browser form.
    origin = request.headers.get("origin")
    return origin is None or urlsplit(origin).netloc == request.headers.get("host")


def get_current_user(request: Request, session: SessionDep, settings: SettingsDep) -> User:
    token = bearer_token(request)
    if token is not None:
        user = crud.user_for_token(session, token, TokenKind.bearer, settings.secret_key)
    else:
        cookie = request.cookies.get(settings.cookie_name)
        if not cookie:
            raise AuthenticationError("not signed in")
        if request.method not in _SAFE_METHODS and not _same_origin(request):
            raise AuthenticationError("cross-site request refused")
        user = crud.user_for_token(session, cookie, TokenKind.session, settings.secret_key)
    request.state.user = user
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


def get_admin(user: CurrentUser) -> User:
    if user.role != Role.admin:
        raise PermissionDeniedError("admins only")
    return user


CurrentAdmin = Annotated[User, Depends(get_admin)]


def client_address(request: Request) -> str | None:
    return request.client.host if request.client else None


def get_actor(request: Request, user: CurrentUser) -> Actor:
    return Actor.of(user, client_address(request))


ActorDep = Annotated[Actor, Depends(get_actor)]


def get_tiles(request: Request) -> TileService:
    tiles = request.app.state.tiles
    assert isinstance(tiles, TileService)
    return tiles


TilesDep = Annotated[TileService, Depends(get_tiles)]


def get_hub(request: Request) -> LiveHub:
    hub = request.app.state.live
    assert isinstance(hub, LiveHub)
    return hub


HubDep = Annotated[LiveHub, Depends(get_hub)]


def get_context(request: Request, user: CurrentUser, actor: ActorDep) -> Context:
    return Context(get_db(request), get_hub(request), user, actor)


ContextDep = Annotated[Context, Depends(get_context)]


def request_context(request: Request) -> Context:
    """The context of a long request (an event stream, a tus PATCH), checked once as it
    starts, with a session closed at once (call it in a thread).

    Not through `SessionDep`: a dependency's session would stay checked out for the
    whole life of the request, and streams last for hours."""
    db, settings = get_db(request), get_settings(request)
    with db.read() as session:
        user = get_current_user(request, session, settings)
    return Context(db, get_hub(request), user, Actor.of(user, client_address(request)))


def get_dispatcher(request: Request) -> Dispatcher:
    dispatcher: Dispatcher = request.app.state.dispatcher
    return dispatcher


LongRequestContext = Annotated[Context, Depends(request_context)]
