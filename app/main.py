"""The FastAPI application: settings, database, tile service and workers wired together."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from wsgiref.simple_server import WSGIServer

import anyio
from fastapi import FastAPI
from prometheus_client import CollectorRegistry, start_http_server
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from app.api.body_limits import BodyLimits
from app.api.cors import IiifCors
from app.api.errors import install_error_handler
from app.api.headers import SecurityHeaders
from app.api.main import router
from app.api.openapi import install_openapi
from app.api.request_id import RequestIdMiddleware
from app.api.server_errors import ServerErrors
from app.api.static import mount_static
from app.api.tile_access import TileAccess
from app.core.bus import bus_for
from app.core.config import DEVELOPMENT_KEY_WARNING, Settings
from app.core.db import Database
from app.core.metrics import process_exits, scrape_registry
from app.services import staging
from app.services.cases.ingest import IngestLoop
from app.services.first_run import FirstRun
from app.services.imaging.capacity import RenderCapacity
from app.services.live import LiveHub
from app.services.streams import StreamGuard
from app.services.telemetry import DatabaseGauges
from app.services.tiles import TileService
from workers.dispatch import dispatcher_for
from workers.embedded import EmbeddedWorkers

log = logging.getLogger(__name__)

#: Seconds startup waits for the event bus before serving anyway.
BUS_START_SECONDS = 10.0


def serve_metrics(address: str | None, registry: CollectorRegistry) -> WSGIServer | None:
    """/metrics without a credential on the scraper's own address, if one is set."""
    if address is None:
        return None
    host, _, port = address.rpartition(":")
    try:
        server, _thread = start_http_server(int(port), host.strip("[]"), registry)
    except OSError as error:  # taken: in multiprocess mode a sibling answers for all
        log.warning("metrics: not serving on %s: %s", address, error.strerror)
        return None
    return server


def create_app(
    settings: Settings | None = None, *, run_workers: bool = False, migrate: bool = True
) -> FastAPI:
    """The app; `run_workers` starts the embedded pyramid workers (unless Redis is set)."""
    settings = settings or Settings()
    if settings.uses_default_secret:
        log.warning("\n%s\n%s\n%s", "!" * 78, DEVELOPMENT_KEY_WARNING, "!" * 78)
    db = Database.from_settings(settings)
    workers = EmbeddedWorkers(db, settings) if run_workers and not settings.redis_url else None
    bus = bus_for(settings, db)  # live events and viewers' wishes reach every web process

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if migrate:
            db.migrate()
        staging.sweep(settings.staging_dir)
        bus.start()
        # Up means listening: an event sent once /healthz answers reaches this process.
        if not await anyio.to_thread.run_sync(bus.listening.wait, BUS_START_SECONDS):
            log.warning("event bus %s: not listening yet; retrying in the background", bus.name)
        # Every background loop of the web process starts and stops here.
        ingest = IngestLoop(db, app.state.live)
        ingest.start()
        if workers is not None:
            workers.start()
        scraper = serve_metrics(settings.metrics_address, app.state.metrics)
        try:
            yield
        finally:
            if scraper is not None:
                scraper.shutdown()
            process_exits()
            if workers is not None:
                await anyio.to_thread.run_sync(workers.stop)
            await anyio.to_thread.run_sync(ingest.stop)
            await anyio.to_thread.run_sync(bus.stop)
            db.dispose()

    app = FastAPI(
        title="SlideBridge",
        summary="Whole-slide telepathology: slides, Deep Zoom and IIIF for a hub and its sites.",
        version="0.1.0",
        lifespan=lifespan,
        # /docs, /redoc and /openapi.json: app.api.pages.docs (local assets, signed in).
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
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
    app.state.live = LiveHub(bus)  # annotation changes, shared views, cases, arrivals
    tiles.transfers.demand.share_through(bus)
    app.state.streams = StreamGuard(db, settings)  # open streams re-check their credentials
    app.state.first_run = FirstRun(db)  # the one-time setup link of an empty hub
    app.state.transfers = tiles.transfers  # arriving slides and viewers' wishes
    app.state.metrics = scrape_registry(DatabaseGauges(db, settings))  # what /metrics answers
    install_error_handler(app)
    install_openapi(app)
    app.include_router(router)
    mount_static(app)
    app.add_middleware(BodyLimits, settings=settings)  # before any route reads a body
    app.add_middleware(IiifCors, origins=settings.iiif_cors_origins)
    app.add_middleware(SecurityHeaders, settings=settings)
    # An unexpected error is logged without its message (patient data), under the request's id.
    app.add_middleware(ServerErrors)
    # The last added runs first: the request id judges the peer that connected, then
    # X-Forwarded-* from a trusted proxy replace its address (uvicorn's own is off).
    app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.forwarded_allow_ips)
    app.add_middleware(RequestIdMiddleware, trusted=settings.forwarded_allow_ips)
    return app
