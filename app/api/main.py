"""All routers of the service, in one list."""

from __future__ import annotations

from fastapi import APIRouter

from app.api.routes import annotations as annotation_routes
from app.api.routes import (
    audit,
    auth,
    dzi,
    health,
    home,
    iiif,
    live,
    login,
    slides,
    uploads,
    viewer,
)
from app.api.routes import cases as case_routes
from app.api.routes import metrics as metric_routes

router = APIRouter()
ROUTE_MODULES = (health, auth, login, slides, audit, dzi, iiif, uploads)
for module in (*ROUTE_MODULES, annotation_routes, live, viewer, home):
    router.include_router(module.router)
router.include_router(uploads.page_router)
router.include_router(case_routes.router)
router.include_router(case_routes.page_router)
router.include_router(metric_routes.router)
