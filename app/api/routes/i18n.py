"""The users' language: the catalog the pages' shell loads once (`static/shell/i18n.js`),
and each user's own choice (the header's language control)."""

from __future__ import annotations

from contextlib import suppress
from typing import Any

from fastapi import APIRouter, Request, Response

from app.api.deps import (
    ActorDep,
    CurrentUser,
    DatabaseDep,
    SessionDep,
    SettingsDep,
    bearer_token,
    current_credential,
)
from app.api.language import request_language, set_language_cookie
from app.core import audit
from app.core.errors import AuthenticationError
from app.core.i18n import LANGUAGES, messages
from app.models.accounts import LanguageChoice, UserPublic
from app.models.audit import Outcome
from app.services import accounts

router = APIRouter(prefix="/api", tags=["language"])


@router.get("/i18n")
def catalog(request: Request, session: SessionDep, settings: SettingsDep) -> dict[str, Any]:
    """The page's language and its catalog (msgid -> text; plural forms as a list).

    Signed-in: the user's language if they chose one. Otherwise, or signed out, the
    browser's `Accept-Language`. The catalogs are the product's, no patient data."""
    if bearer_token(request) or request.cookies.get(settings.cookie_name):
        # A fallen session still gets its pages in the browser's language.
        with suppress(AuthenticationError):
            current_credential(request, session, settings)
    language = request_language(request)
    return {"language": language, "languages": LANGUAGES, "messages": messages(language)}


@router.put("/users/me/language")
def set_language(
    choice: LanguageChoice,
    user: CurrentUser,
    db: DatabaseDep,
    actor: ActorDep,
    settings: SettingsDep,
    response: Response,
) -> UserPublic:
    """Choose the pages' language (a tag of `languages`), or null for the browser's."""
    with db.write() as session:
        changed = accounts.set_language(session, user.id, choice.language)
        public = accounts.user_public(session, changed)
    audit.record(db, actor, "user.language", Outcome.success, object_type="user", object_id=user.id)
    set_language_cookie(response, settings, choice.language)
    return public
