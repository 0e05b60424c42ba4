"""Typed dependencies shared by the routes: settings, database session, current user.

Both credentials work everywhere: `Authorization: Bearer <token>` for scripts and
the session cookie for the browser (so OpenSeadragon's tile requests carry it).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlmodel import Session

from app.api.kiosk import require_kiosk_route
from app.api.origin import client_address as client_address  # re-exported for the routes
from app.api.origin import require_same_origin
from app.api.trainee import require_trainee_route
from app.core import audit
from app.core.audit import Actor
from app.core.config import Settings
from app.core.db import Database
from app.core.errors import AuthenticationError, PermissionDeniedError
from app.core.i18n import N_
from app.models.accounts import Role, Site, TokenKind, User
from app.services import accounts as crud
from app.services.accounts import Credential
from app.services.context import Context
from app.services.live import LiveHub
from app.services.reports.regions import Camera
from app.services.tiles import TileService
from workers.dispatch import Dispatcher


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


def current_credential(request: Request, session: Session, settings: Settings) -> Credential:
    """The request's checked credential: a bearer token, or the session cookie (then
    a state-changing request must be same-origin, a kiosk session must be on its
    screen, and the session's use is recorded for the idle timeout)."""
    db = get_db(request)
    token = bearer_token(request)
    try:
        if token is not None:
            credential = crud.check_token(session, token, TokenKind.bearer, settings)
        else:
            cookie = request.cookies.get(settings.cookie_name)
            if not cookie:
                raise AuthenticationError(N_("not signed in"))
            require_same_origin(request, settings, db)
            credential = crud.check_token(session, cookie, TokenKind.session, settings)
            if credential.kiosk_site_id is not None:
                site = session.get(Site, credential.kiosk_site_id)
                require_kiosk_route(request, site.code if site else "")
    except AuthenticationError as error:
        if error.reason != "not signed in":  # a first visit is no refusal
            client = client_address(request)
            key = f"credential:{client}:{error.reason}"
            audit.refusals.refuse(db, Actor(None, None, client), "auth.refused", key, error.reason)
        raise
    if credential.user.role == Role.trainee:
        try:
            require_trainee_route(request)
        except PermissionDeniedError as error:
            client = client_address(request)
            key = f"trainee:{credential.user.id}:{request.url.path[:200]}"
            audit.refusals.refuse(
                db,
                Actor.of(credential.user, client),
                "trainee.refused",
                key,
                f"{error.reason}: {request.method} {request.url.path[:200]}",
            )
            raise
    crud.touch(db, credential, settings)
    request.state.user = credential.user
    # Kept apart from the row: a route that rolls its session back expires the row, and
    # its error must still be said in the user's language (`request_language`).
    request.state.language = credential.user.language
    request.state.credential = credential
    return credential


def get_current_user(request: Request, session: SessionDep, settings: SettingsDep) -> User:
    return current_credential(request, session, settings).user


CurrentUser = Annotated[User, Depends(get_current_user)]


def get_admin(user: CurrentUser) -> User:
    if user.role != Role.admin:
        raise PermissionDeniedError(N_("admins only"))
    return user


CurrentAdmin = Annotated[User, Depends(get_admin)]


def get_actor(request: Request, user: CurrentUser) -> Actor:
    return Actor.of(user, client_address(request))


ActorDep = Annotated[Actor, Depends(get_actor)]


def get_tiles(request: Request) -> TileService:
    tiles = request.app.state.tiles
    assert isinstance(tiles, TileService)
    return tiles


TilesDep = Annotated[TileService, Depends(get_tiles)]


def get_camera(request: Request) -> Camera:
    """What pictures a report's marked regions at signing."""
    return Camera(get_tiles(request), get_settings(request).iiif_max_read_pixels)


CameraDep = Annotated[Camera, Depends(get_camera)]


def get_hub(request: Request) -> LiveHub:
    hub = request.app.state.live
    assert isinstance(hub, LiveHub)
    return hub


HubDep = Annotated[LiveHub, Depends(get_hub)]


def get_context(request: Request, user: CurrentUser, actor: ActorDep) -> Context:
    return Context(get_db(request), get_hub(request), user, actor)


ContextDep = Annotated[Context, Depends(get_context)]


def request_context(request: Request) -> Context:
    """The context of a long request (an event stream, a tus PATCH), checked as it
    starts, with a session closed at once (call it in a thread); the checked
    credential stays on `request.state.credential` for the stream's re-checks.

    Not through `SessionDep`: a dependency's session would stay checked out for the
    whole life of the request, and streams last for hours."""
    db, settings = get_db(request), get_settings(request)
    with db.read() as session:
        user = current_credential(request, session, settings).user
    return Context(db, get_hub(request), user, Actor.of(user, client_address(request)))


def get_dispatcher(request: Request) -> Dispatcher:
    dispatcher: Dispatcher = request.app.state.dispatcher
    return dispatcher


LongRequestContext = Annotated[Context, Depends(request_context)]
