"""The browser's way in: a plain HTML login form that sets an HttpOnly session cookie.

No scripts, styles or fonts from elsewhere; the page's CSP forbids them anyway.
"""

from __future__ import annotations

import html
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from app.api.deps import DatabaseDep, SettingsDep, client_address
from app.core import audit
from app.core.audit import Actor
from app.core.errors import AuthenticationError
from app.models.accounts import TokenKind
from app.models.audit import Outcome
from app.services import accounts as crud

router = APIRouter(tags=["login"], include_in_schema=False)

_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "form-action 'self'; frame-ancestors 'none'",
    "Cache-Control": "no-store",
}
_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>SlideBridge: sign in</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{margin:0;min-height:100vh;display:grid;place-items:center;background:#1d2430;
font:15px/1.4 system-ui,sans-serif;color:#1b1f24}}
main{{background:#fff;width:min(22rem,92vw);padding:1.6rem 1.8rem 1.8rem;border-radius:8px;
box-shadow:0 8px 30px rgba(0,0,0,.35)}}h1{{margin:0 0 .2rem;font-size:1.5rem}}
.sub{{margin:0 0 1.2rem;color:#5b6472;font-size:.9rem}}
label,input,button{{display:block;width:100%;box-sizing:border-box}}
label{{margin:.8rem 0 .3rem;font-weight:600}}
input{{padding:.55rem .6rem;font:inherit;border:1px solid #c6ccd5;border-radius:5px}}
input:focus{{outline:2px solid #4ea1ff;border-color:#4ea1ff}}
button{{margin-top:1.3rem;padding:.6rem;font:inherit;font-weight:600;color:#fff;background:#2a6fd6;
border:0;border-radius:5px;cursor:pointer}}button:hover{{background:#245fb8}}
.error{{color:#8c1d18;background:#fbd9d6;padding:.5rem .6rem;border-radius:5px}}</style></head>
<body><main><h1>SlideBridge</h1><p class="sub">Whole-slide telepathology</p>{message}
<form method="post" action="/login">
<input type="hidden" name="next" value="{next}">
<label for="username">User name</label>
<input id="username" name="username" autocomplete="username" required autofocus>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button></form></main></body></html>
"""


def _safe_next(target: str) -> str:
    """Only paths on this site: `//evil.example` or `https://...` would be an open redirect."""
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


def _page(next_url: str, message: str = "", status: int = 200) -> HTMLResponse:
    body = _PAGE.format(
        next=html.escape(_safe_next(next_url)),
        message=f'<p class="error">{html.escape(message)}</p>' if message else "",
    )
    return HTMLResponse(body, status_code=status, headers=_HEADERS)


@router.get("/login")
def login_page(next: str = "/") -> HTMLResponse:
    return _page(next)


@router.post("/login")
def login(
    request: Request,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=256)],
    db: DatabaseDep,
    settings: SettingsDep,
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    try:
        _, token = crud.sign_in(
            db, settings, username, password, TokenKind.session, client_address(request)
        )
    except AuthenticationError as error:
        return _page(next, error.reason, status=401)
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(
        settings.cookie_name,
        token,
        max_age=settings.session_hours * 3600,
        httponly=True,
        secure=settings.cookie_secure,
        samesite=settings.cookie_samesite,
        path="/",
    )
    return response


@router.post("/logout")
def logout(request: Request, db: DatabaseDep, settings: SettingsDep) -> Response:
    cookie = request.cookies.get(settings.cookie_name)
    if cookie:
        with db.write() as session:
            revoked = crud.revoke_token(session, cookie, settings.secret_key)
        if revoked is not None:  # audited after the commit: never nest two write transactions
            actor = Actor(revoked.user_id, None, client_address(request))
            audit.record(db, actor, "auth.logout", Outcome.success)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(
        settings.cookie_name,
        path="/",
        httponly=True,
        secure=settings.cookie_secure,
        samesite=settings.cookie_samesite,
    )
    return response
