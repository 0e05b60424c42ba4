"""All routers of the service, in one list: the JSON API, then the pages."""

from __future__ import annotations

from fastapi import APIRouter

from app.api import pages
from app.api.routes import annotations as annotation_routes
from app.api.routes import (
    attachments,
    audit,
    auth,
    cases,
    dzi,
    health,
    i18n,
    iiif,
    live,
    metrics,
    prometheus,
    reports,
    slides,
    teaching,
    transfers,
    uploads,
    users,
)

router = APIRouter()
ROUTES = (
    health, auth, users, slides, audit, dzi, iiif, uploads, transfers, annotation_routes, live,
    cases, attachments, reports, metrics, prometheus, i18n, teaching,
)  # fmt: skip
for module in ROUTES:
    router.include_router(module.router)
router.include_router(pages.router)
