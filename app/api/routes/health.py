"""Liveness and readiness for load balancers, orchestrators and `make run`.

`/healthz` answers while the process can serve a request at all (restart it if not);
`/readyz` says whether it should get traffic now: the database answers at the newest
schema, the job queue takes jobs (Redis when configured, else the embedded workers are
running) and the data directory takes files. Both are open to anyone (a load balancer
holds no credential), so they name what failed but no path or address.
"""

from __future__ import annotations

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from app.api.deps import SessionDep, get_db, get_settings
from app.core import probes
from app.core.probes import Finding, Level

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz(session: SessionDep) -> dict[str, str]:
    session.exec(text("SELECT 1"))  # type: ignore[call-overload]
    return {"status": "ok"}


def _queue(request: Request) -> Finding:
    settings = get_settings(request)
    if settings.redis_url:
        redis = probes.redis(settings.redis_url)
        return Finding("queue", redis.level, f"redis {redis.detail}")
    workers = request.app.state.workers
    if workers is None:  # jobs run in `slidebridge worker` processes off the database
        return Finding("queue", Level.ok, "database queue")
    alive = workers.alive()
    if alive < workers.count:
        return Finding("queue", Level.failed, f"{alive} of {workers.count} embedded workers run")
    return Finding("queue", Level.ok, f"{alive} embedded workers")


def readiness(request: Request) -> list[Finding]:
    settings, db = get_settings(request), get_db(request)
    found = [probes.database(db)]
    if not found[0].wrong:
        found.append(probes.migrations(db))
    found.append(_queue(request))
    for directory in (settings.slides_dir, settings.pyramids_dir, settings.staging_dir):
        found.append(probes.writable(directory, f"storage {directory.name}"))
    return found


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    """200 when every check passes, else 503; `checks` says which failed."""
    found = await anyio.to_thread.run_sync(readiness, request)
    ready = not any(finding.wrong for finding in found)
    return JSONResponse(
        {
            "status": "ready" if ready else "not ready",
            "checks": {finding.check: finding.level.name for finding in found},
        },
        status_code=200 if ready else 503,
        headers={"Cache-Control": "no-store"},
    )
