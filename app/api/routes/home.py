"""The start page at `/`: the slides a user may see, and links to what their role does."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from app.api.deps import SessionDep, SettingsDep
from app.api.pages import STATIC, signed_in_page

router = APIRouter(tags=["pages"], include_in_schema=False)


@router.get("/", response_class=Response)
def home_page(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    return signed_in_page(request, session, settings, STATIC / "home.html")
