"""`GET /metrics`: the service in Prometheus' text format, for admins.

Not `/api/metrics/...` (the turnaround figures for people, in `metrics.py`): this is
for a scraper, with a bearer token of an admin (or an admin's session, to look).
Scrapes are not audited: they come every few seconds and carry counts and ages,
no patient data; a refused one is (by the credential check). A scraper that holds no
token reads the same on `metrics_address`, a separate address of its own.
"""

from __future__ import annotations

import anyio
from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from app.api.deps import CurrentAdmin

router = APIRouter(tags=["operations"])


@router.get("/metrics", response_class=Response)
async def metrics(request: Request, _admin: CurrentAdmin) -> Response:
    registry: CollectorRegistry = request.app.state.metrics
    body = await anyio.to_thread.run_sync(generate_latest, registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"})
