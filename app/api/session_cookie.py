"""The browser session cookie: HttpOnly, Secure and SameSite as configured, for the whole site."""

from __future__ import annotations

from fastapi.responses import Response

from app.core.config import Settings


def set_session_cookie(response: Response, settings: Settings, token: str, hours: int) -> None:
    response.set_cookie(
        settings.cookie_name,
        token,
        max_age=hours * 3600,
        httponly=True,
        secure=settings.cookie_secure,
        samesite=settings.cookie_samesite,
        path="/",
    )


def clear_session_cookie(response: Response, settings: Settings) -> None:
    response.delete_cookie(
        settings.cookie_name,
        path="/",
        httponly=True,
        secure=settings.cookie_secure,
        samesite=settings.cookie_samesite,
    )
