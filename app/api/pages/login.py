"""The browser's way in: a plain HTML login form that sets an HttpOnly session cookie.

No scripts, styles or fonts from elsewhere; the page's CSP forbids them anyway.
Posting the form must be same-origin (login CSRF would sign a victim in as the
attacker), and so must signing out. Too many failed sign-ins are refused with 429
(`accounts.sign_in`), said on the form.
"""

from __future__ import annotations

import html
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from app.api.deps import DatabaseDep, SettingsDep, client_address
from app.api.language import set_language_cookie, signed_out_language
from app.api.origin import require_same_origin
from app.api.pages.card import card_page, error_line
from app.api.session_cookie import clear_session_cookie, set_session_cookie
from app.api.sign_in import sign_in
from app.core import audit
from app.core.audit import Actor
from app.core.config import Settings
from app.core.errors import AuthenticationError, CrossSiteRequestError, TooManyRequestsError
from app.core.i18n import N_, supported, translate
from app.models.accounts import TokenKind
from app.models.audit import Outcome
from app.services import accounts as crud

router = APIRouter(tags=["login"], include_in_schema=False)

#: Why a page sent the browser here (`?why=`, from a stream's signed-out event): fixed
#: sentences, never text from the URL.
WHY = {
    "idle": N_("You were signed out after a while without activity."),
    "ended": N_("Your session was ended (signed out elsewhere or by an administrator)."),
    "expired": N_("Your session expired."),
    "disabled": N_("Your account was disabled: ask an administrator."),
}
_WORDS = {
    "sub": N_("Whole-slide telepathology"),
    "username": N_("User name"),
    "password": N_("Password"),
    "sign_in": N_("Sign in"),
}
_FORM = """<p class="sub">{sub}</p>{message}
<form method="post" action="/login">
<input type="hidden" name="next" value="{next}">
<input type="hidden" name="lang" value="{lang}">
<label for="username">{username}</label>
<input id="username" name="username" autocomplete="username" required autofocus>
<label for="password">{password}</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">{sign_in}</button></form>"""


def _safe_next(target: str) -> str:
    """Only paths on this site: `//evil.example` or `https://...` would be an open redirect."""
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


def _page(
    language: str,
    next_url: str,
    message: str = "",
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """The form in `language`; `message` (a reason, `N_` or the catalog's) said in it too."""
    words = {name: html.escape(translate(text, language)) for name, text in _WORDS.items()}
    body = _FORM.format(
        next=html.escape(_safe_next(next_url)),
        lang=html.escape(language),
        message=error_line(translate(message, language)),
        **words,
    )
    return card_page(
        N_("sign in"),
        body,
        language=language,
        switch={"next": _safe_next(next_url)},
        status=status,
        headers=headers,
    )


@router.get("/login")
def login_page(request: Request, next: str = "/", why: str = "", lang: str = "") -> HTMLResponse:
    return _page(signed_out_language(request, lang), next, WHY.get(why, ""))


@router.post("/login")
async def login(
    request: Request,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=256)],
    next: Annotated[str, Form(max_length=2000)] = "/",
    lang: Annotated[str, Form(max_length=16)] = "",
) -> Response:
    settings: Settings = request.app.state.settings
    language = signed_out_language(request, lang)
    try:
        _, token = await sign_in(request, username, password, TokenKind.session)
    except CrossSiteRequestError as error:
        return _page(language, "/", error.reason, status=403)
    except TooManyRequestsError as error:
        headers = {"Retry-After": str(error.retry_after)}
        return _page(language, next, error.reason, 429, headers)
    except AuthenticationError as error:
        return _page(language, next, error.reason, status=401)
    response = RedirectResponse(_safe_next(next), status_code=303)
    set_session_cookie(response, settings, token, settings.session_hours)
    if supported(lang):  # chosen on the form: the pages go on in it
        set_language_cookie(response, settings, language)
    return response


@router.post("/logout")
def logout(request: Request, db: DatabaseDep, settings: SettingsDep) -> Response:
    """Ends the session; a cross-site sign-out (403) ends nothing."""
    require_same_origin(request, settings, db)
    cookie = request.cookies.get(settings.cookie_name)
    if cookie:
        with db.write() as session:
            revoked = crud.revoke_token(session, cookie, settings.secret_key)
        if revoked is not None:  # audited after the commit: never nest two write transactions
            actor = Actor(revoked.user_id, None, client_address(request))
            audit.record(db, actor, "auth.logout", Outcome.success)
    response = RedirectResponse("/login", status_code=303)
    clear_session_cookie(response, settings)
    return response
