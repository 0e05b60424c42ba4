"""First run: the page behind the one-time link `slidebridge serve` prints on an empty
hub. It creates the first site and its admin, signs the admin in and goes to the
start page; from then on the link answers 404 (`app.services.first_run`)."""

from __future__ import annotations

import html
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from app.api.deps import DatabaseDep, SettingsDep, client_address
from app.api.language import signed_out_language
from app.api.origin import require_same_origin
from app.api.pages.card import card_page, error_line
from app.api.session_cookie import set_session_cookie
from app.core.errors import CrossSiteRequestError
from app.core.i18n import N_, translate
from app.models.accounts import Role, SiteCreate, TokenKind, UserCreate
from app.services import accounts
from app.services.first_run import FirstRun
from tiler.errors import SlideBridgeError

router = APIRouter(tags=["setup"], include_in_schema=False)

#: What each rule of the models means, said for this form.
_FIELD_WORDS = {
    "code": N_(
        "Site code: up to 32 letters, digits, '.', '_' or '-', starting with a letter or digit"
    ),
    "name": N_("Hospital name: 1 to 200 characters"),
    "username": N_(
        "User name: up to 64 letters, digits, '.', '_' or '-', starting with one of the first two"
    ),
    "full_name": N_("Your name: up to 200 characters"),
    "password": N_(
        "Password: at least 10 characters (a few words are easier to type than symbols)"
    ),
}
#: The form's own words, translated into the reader's language when it is made.
_WORDS = {
    "sub": N_(
        "First run: create the first hospital site and your admin account. This link works once."
    ),
    "hospital": N_("The hospital"),
    "site_code_label": N_("Site code"),
    "name_label": N_("Name"),
    "name_example": N_("North island hospital"),
    "sites_hint": N_("Slides and cases belong to a site; add more sites later."),
    "admin": N_("You, the admin"),
    "your_name": N_("Your name"),
    "user_name": N_("User name"),
    "password_label": N_("Password"),
    "password_hint": N_("At least 10 characters: a few words are easier to type than symbols."),
    "again": N_("The password again"),
    "create": N_("Create the site and sign in"),
    "dead": N_(
        "This setup link is no longer valid: the hub is set up already (or was restarted, "
        "which prints a new link while it has no user)."
    ),
    "sign_in": N_("Sign in"),
}
_FORM = """<p class="sub">{sub}</p>{message}
<form method="post" action="/setup">
<input type="hidden" name="token" value="{token}">
<input type="hidden" name="lang" value="{lang}">
<h2>{hospital}</h2>
<div class="pair"><div><label for="site_code">{site_code_label}</label>
<input id="site_code" name="site_code" value="{site_code}" required maxlength="32"
 placeholder="NORTH" autofocus></div>
<div><label for="site_name">{name_label}</label>
<input id="site_name" name="site_name" value="{site_name}" required maxlength="200"
 placeholder="{name_example}"></div></div>
<p class="hint">{sites_hint}</p>
<h2>{admin}</h2>
<label for="full_name">{your_name}</label>
<input id="full_name" name="full_name" value="{full_name}" maxlength="200" autocomplete="name">
<label for="username">{user_name}</label>
<input id="username" name="username" value="{username}" required maxlength="64"
 autocomplete="username">
<label for="password">{password_label}</label>
<input id="password" name="password" type="password" required minlength="10"
 autocomplete="new-password">
<p class="hint">{password_hint}</p>
<label for="password2">{again}</label>
<input id="password2" name="password2" type="password" required minlength="10"
 autocomplete="new-password">
<button type="submit">{create}</button></form>"""
_DEAD = """<p class="sub">{dead}</p>
<p><a href="/login">{sign_in}</a></p>"""


def _words(language: str) -> dict[str, str]:
    return {name: html.escape(translate(text, language)) for name, text in _WORDS.items()}


def _first_run(request: Request) -> FirstRun:
    first_run: FirstRun = request.app.state.first_run
    return first_run


def _dead(language: str) -> HTMLResponse:
    body = _DEAD.format(**_words(language))
    return card_page(N_("setup"), body, language=language, status=404)


def _form(
    language: str, token: str, values: dict[str, str], message: str = "", status: int = 200
) -> Response:
    fields = {name: html.escape(values.get(name, "")) for name in _FIELD_WORDS}
    body = _FORM.format(
        token=html.escape(token),
        lang=html.escape(language),
        message=error_line(translate(message, language)),
        site_code=fields["code"],
        site_name=fields["name"],
        username=fields["username"],
        full_name=fields["full_name"],
        **_words(language),
    )
    return card_page(
        N_("first run"),
        body,
        language=language,
        switch={"token": token},
        status=status,
        width="26rem",
    )


def _said(error: ValidationError) -> str:
    first = error.errors()[0]
    field = str(first["loc"][-1]) if first.get("loc") else ""
    return _FIELD_WORDS.get(field, str(first["msg"]))


@router.get("/setup")
def setup_page(request: Request, token: str = "", lang: str = "") -> Response:
    language = signed_out_language(request, lang)
    if not _first_run(request).accepts(token):
        return _dead(language)
    return _form(language, token, {})


@router.post("/setup")
def setup(
    request: Request,
    db: DatabaseDep,
    settings: SettingsDep,
    token: Annotated[str, Form(max_length=100)],
    site_code: Annotated[str, Form(max_length=100)],
    site_name: Annotated[str, Form(max_length=300)],
    username: Annotated[str, Form(max_length=100)],
    password: Annotated[str, Form(max_length=256)],
    password2: Annotated[str, Form(max_length=256)],
    full_name: Annotated[str, Form(max_length=300)] = "",
    lang: Annotated[str, Form(max_length=16)] = "",
) -> Response:
    values = {"code": site_code, "name": site_name, "username": username, "full_name": full_name}
    first_run = _first_run(request)
    language = signed_out_language(request, lang)
    try:
        require_same_origin(request, settings, db)
    except CrossSiteRequestError as error:
        return card_page(N_("setup"), error_line(error.reason), language=language, status=403)
    if not first_run.accepts(token):
        return _dead(language)
    if password != password2:
        message = N_("The two passwords differ: type them again.")
        return _form(language, token, values, message, 422)
    try:
        site = SiteCreate(code=site_code.strip(), name=site_name.strip())
        admin = UserCreate(
            username=username.strip(),
            role=Role.admin,
            full_name=full_name.strip() or None,
            password=password,
        )
        user = first_run.complete(token, site, admin, client_address(request))
    except ValidationError as error:
        return _form(language, token, values, _said(error), 422)
    except SlideBridgeError as error:
        if not first_run.accepts(token):
            return _dead(language)
        return _form(language, token, values, error.reason, 422)
    with db.write() as session:
        lifetime = timedelta(hours=settings.session_hours)
        session_token, _ = accounts.issue_token(
            session, user, TokenKind.session, lifetime, settings.secret_key
        )
    response = RedirectResponse("/", status_code=303)
    set_session_cookie(response, settings, session_token, settings.session_hours)
    return response
