"""The FastAPI application: settings, database, tile service and workers wired together."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.cors import IiifCors
from app.api.errors import install_error_handler
from app.api.main import router
from app.api.static import mount_static
from app.api.tile_access import TileAccess
from app.core.config import Settings
from app.core.db import Database
from app.services import staging
from app.services.cases.ingest import IngestLoop
from app.services.imaging.capacity import RenderCapacity
from app.services.live import LiveHub
from app.services.tiles import TileService
from workers.dispatch import dispatcher_for
from workers.embedded import EmbeddedWorkers

log = logging.getLogger(__name__)


class SecurityHeaders:
    """`nosniff` and no-referrer on every answer; `no-store` on API JSON (patient data).

    Pure ASGI rather than BaseHTTPMiddleware, which costs a task per request on the tile path.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        is_api = scope["path"].startswith("/api/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                headers.append((b"x-content-type-options", b"nosniff"))
                headers.append((b"referrer-policy", b"no-referrer"))
                if is_api and b"cache-control" not in names:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(
    settings: Settings | None = None, *, run_workers: bool = False, migrate: bool = True
) -> FastAPI:
    """The app; `run_workers` starts the embedded pyramid workers (unless Redis is set)."""
    settings = settings or Settings()
    db = Database.from_settings(settings)
    workers = EmbeddedWorkers(db, settings) if run_workers and not settings.redis_url else None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if migrate:
            db.migrate()
        staging.sweep(settings.staging_dir)
        # Every background loop of the web process starts and stops here.
        ingest = IngestLoop(db, app.state.live)
        ingest.start()
        if workers is not None:
            workers.start()
        try:
            yield
        finally:
            if workers is not None:
                await anyio.to_thread.run_sync(workers.stop)
            await anyio.to_thread.run_sync(ingest.stop)
            db.dispose()

    app = FastAPI(
        title="SlideBridge",
        summary="Whole-slide telepathology: slides, Deep Zoom and IIIF for a hub and its sites.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.db = db
    app.state.tiles = tiles = TileService(settings, db)
    app.state.tile_access = TileAccess(db, settings)
    app.state.renders = RenderCapacity(
        settings.iiif_renders, settings.iiif_renders_per_user, settings.iiif_render_wait_seconds
    )
    app.state.workers = workers
    app.state.dispatcher = dispatcher_for(settings, workers)
    app.state.live = LiveHub()  # annotation changes and shared views, per slide
    app.state.transfers = tiles.transfers  # arriving slides and viewers' wishes
    install_error_handler(app)
    app.include_router(router)
    mount_static(app)
    app.add_middleware(IiifCors, origins=settings.iiif_cors_origins)
    app.add_middleware(SecurityHeaders)
    return app
