"""All routers of the service, in one list."""

from __future__ import annotations

from fastapi import APIRouter

from app.api.routes import annotations as annotation_routes
from app.api.routes import (
    audit,
    auth,
    dzi,
    health,
    iiif,
    live,
    login,
    slides,
    uploads,
    viewer,
)

router = APIRouter()
ROUTE_MODULES = (health, auth, login, slides, audit, dzi, iiif, uploads)
for module in (*ROUTE_MODULES, annotation_routes, live, viewer):
    router.include_router(module.router)
router.include_router(uploads.page_router)
