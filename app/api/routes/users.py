"""Users an admin manages from the API: disable (every token and session revoked, open
streams end and tiles stop within their re-check time) and enable again. The same as
`slidebridge user disable|enable NAME`."""

from __future__ import annotations

from fastapi import APIRouter

from app.api.deps import ActorDep, CurrentAdmin, DatabaseDep
from app.core import audit
from app.core.errors import ConflictError
from app.core.i18n import N_
from app.models.accounts import UserPublic
from app.models.audit import Outcome
from app.services import accounts

router = APIRouter(prefix="/api/users", tags=["users"])


def _set_active(db: DatabaseDep, actor: ActorDep, username: str, active: bool) -> UserPublic:
    action = "user.enable" if active else "user.disable"
    if not active and username == actor.username:
        audit.record(db, actor, action, Outcome.denied, detail=username[:64])
        raise ConflictError(N_("an admin cannot disable their own account"))
    with db.write() as session:
        user = accounts.set_active(session, username, active)
        public = accounts.user_public(session, user)
    audit.record(db, actor, action, Outcome.success, object_type="user", object_id=user.id)
    return public


@router.post("/{username}/disable")
def disable_user(
    username: str, admin: CurrentAdmin, db: DatabaseDep, actor: ActorDep
) -> UserPublic:
    """Revokes every token and session of the user; their open streams end within seconds."""
    return _set_active(db, actor, username, False)


@router.post("/{username}/enable")
def enable_user(username: str, _: CurrentAdmin, db: DatabaseDep, actor: ActorDep) -> UserPublic:
    """The user may sign in again (old sessions stay revoked)."""
    return _set_active(db, actor, username, True)
