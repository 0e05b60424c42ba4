"""Which language an answer speaks: the signed-in user's setting, else the browser's
(`Accept-Language`). The pages' shell sends its own language with every request it
makes, so an error it shows is said in the language of the page around it."""

from __future__ import annotations

from fastapi import Request, Response
from sqlalchemy import inspect as sa_inspect

from app.core.config import Settings
from app.core.i18n import negotiate, supported
from app.models.accounts import User

#: Where the browser remembers a chosen language for the pages without a user (sign-in).
LANGUAGE_COOKIE = "slidebridge_language"
#: A year: a language chosen in a browser outlives its sessions.
_COOKIE_SECONDS = 365 * 24 * 3600


def set_language_cookie(response: Response, settings: Settings, language: str | None) -> None:
    if language is None:
        response.delete_cookie(LANGUAGE_COOKIE, path="/")
        return
    response.set_cookie(
        LANGUAGE_COOKIE,
        language,
        max_age=_COOKIE_SECONDS,
        httponly=True,
        secure=settings.cookie_secure,
        samesite="lax",
        path="/",
    )


def request_language(request: Request) -> str:
    """The signed-in user's own choice, else the one made in this browser (the sign-in
    form's language links, or a user's choice before), else Accept-Language."""
    user = getattr(request.state, "user", None)
    # Read from the loaded row only: an error answer may come after the request's
    # session ended (the row detached and expired), and must not need the database;
    # an expired row leaves the language noted when the credential was checked.
    language = sa_inspect(user).dict.get("language") if isinstance(user, User) else None
    if not isinstance(language, str) or not language:
        language = getattr(request.state, "language", None)
    if isinstance(language, str) and language:
        return language
    return signed_out_language(request)


def signed_out_language(request: Request, chosen: str = "") -> str:
    """The language of a page without a user: `?lang=`, then the language the browser's
    last user chose (a cookie), then Accept-Language."""
    for tag in (chosen, request.cookies.get(LANGUAGE_COOKIE, "")):
        language = supported(tag)
        if language:
            return language
    return negotiate(request.headers.get("accept-language"))
