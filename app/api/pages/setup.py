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
from app.api.origin import require_same_origin
from app.api.pages.card import card_page, error_line
from app.api.session_cookie import set_session_cookie
from app.core.errors import CrossSiteRequestError
from app.models.accounts import Role, SiteCreate, TokenKind, UserCreate
from app.services import accounts
from app.services.first_run import FirstRun
from tiler.errors import SlideBridgeError

router = APIRouter(tags=["setup"], include_in_schema=False)

#: What each rule of the models means, said for this form.
_FIELD_WORDS = {
    "code": "Site code: up to 32 letters, digits, '.', '_' or '-', starting with a letter or digit",
    "name": "Hospital name: 1 to 200 characters",
    "username": "User name: up to 64 letters, digits, '.', '_' or '-', starting with one of "
    "the first two",
    "full_name": "Your name: up to 200 characters",
    "password": "Password: at least 10 characters (a few words are easier to type than symbols)",
}
_FORM = """<p class="sub">First run: create the first hospital site and your admin account.
This link works once.</p>{message}
<form method="post" action="/setup">
<input type="hidden" name="token" value="{token}">
<h2>The hospital</h2>
<div class="pair"><div><label for="site_code">Site code</label>
<input id="site_code" name="site_code" value="{site_code}" required maxlength="32"
 placeholder="NORTH" autofocus></div>
<div><label for="site_name">Name</label>
<input id="site_name" name="site_name" value="{site_name}" required maxlength="200"
 placeholder="North island hospital"></div></div>
<p class="hint">Slides and cases belong to a site; add more sites later.</p>
<h2>You, the admin</h2>
<label for="full_name">Your name</label>
<input id="full_name" name="full_name" value="{full_name}" maxlength="200" autocomplete="name">
<label for="username">User name</label>
<input id="username" name="username" value="{username}" required maxlength="64"
 autocomplete="username">
<label for="password">Password</label>
<input id="password" name="password" type="password" required minlength="10"
 autocomplete="new-password">
<p class="hint">At least 10 characters: a few words are easier to type than symbols.</p>
<label for="password2">The password again</label>
<input id="password2" name="password2" type="password" required minlength="10"
 autocomplete="new-password">
<button type="submit">Create the site and sign in</button></form>"""
_DEAD = """<p class="sub">This setup link is no longer valid: the hub is set up already
(or was restarted, which prints a new link while it has no user).</p>
<p><a href="/login">Sign in</a></p>"""


def _first_run(request: Request) -> FirstRun:
    first_run: FirstRun = request.app.state.first_run
    return first_run


def _dead() -> HTMLResponse:
    return card_page("setup", _DEAD, status=404)


def _form(token: str, values: dict[str, str], message: str = "", status: int = 200) -> Response:
    fields = {name: html.escape(values.get(name, "")) for name in _FIELD_WORDS}
    body = _FORM.format(
        token=html.escape(token),
        message=error_line(message),
        site_code=fields["code"],
        site_name=fields["name"],
        username=fields["username"],
        full_name=fields["full_name"],
    )
    return card_page("first run", body, status=status, width="26rem")


def _said(error: ValidationError) -> str:
    first = error.errors()[0]
    field = str(first["loc"][-1]) if first.get("loc") else ""
    return _FIELD_WORDS.get(field, str(first["msg"]))


@router.get("/setup")
def setup_page(request: Request, token: str = "") -> Response:
    if not _first_run(request).accepts(token):
        return _dead()
    return _form(token, {})


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
) -> Response:
    values = {"code": site_code, "name": site_name, "username": username, "full_name": full_name}
    first_run = _first_run(request)
    try:
        require_same_origin(request, settings, db)
    except CrossSiteRequestError as error:
        return card_page("setup", error_line(error.reason), status=403)
    if not first_run.accepts(token):
        return _dead()
    if password != password2:
        return _form(token, values, "The two passwords differ: type them again.", 422)
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
        return _form(token, values, _said(error), 422)
    except SlideBridgeError as error:
        return _form(token, values, error.reason, 422) if first_run.accepts(token) else _dead()
    with db.write() as session:
        lifetime = timedelta(hours=settings.session_hours)
        session_token, _ = accounts.issue_token(
            session, user, TokenKind.session, lifetime, settings.secret_key
        )
    response = RedirectResponse("/", status_code=303)
    set_session_cookie(response, settings, session_token, settings.session_hours)
    return response
