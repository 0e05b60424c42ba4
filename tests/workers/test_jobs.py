"""Durable pyramid jobs on the embedded worker: build, priority, worker death, failures."""

from __future__ import annotations

import shutil
import subprocess
import textwrap
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from app.core.config import Settings
from app.core.db import Database
from app.core.storage import content_path, file_sha256, pyramid_path
from app.main import create_app
from app.models.jobs import Job, JobState
from app.models.slides import SlideRecord
from tests.conftest import BOXES_TIFF, SLIDES, TINY_SVS, Backend, World, make_settings, upload
from tests.workers.helpers import PYTHON, child_env, job_of, slide_row, wait_for_status
from tiler.tilepack import TilePack
from workers import jobs
from workers.embedded import EmbeddedWorkers

LEASE = timedelta(seconds=30)


def test_serve_builds_the_pyramid_in_the_background(
    backend: Backend, tmp_path: Path, world: World, settings: Settings
) -> None:
    # The app as `slidebridge serve` runs it: embedded workers on, same database and data.
    with TestClient(
        create_app(settings, run_workers=True, migrate=False), base_url="https://testserver"
    ) as serving:
        response = upload(serving, world, "tech_north")
        assert response.status_code == 201
        slide_id = response.json()["id"]
        db = serving.app.state.db  # type: ignore[attr-defined]
        slide = wait_for_status(db, slide_id, {"ready", "failed"})
        assert (slide.status, slide.progress, slide.error) == ("ready", 1.0, None)
        body = serving.get(f"/api/slides/{slide_id}", headers=world.auth("tech_north")).json()
        assert (body["status"], body["progress"]) == ("ready", 1.0)
    job = job_of(db, slide_id)
    assert (job.state, job.attempts, job.lease_owner is not None) == ("done", 1, True)
    pack = TilePack(pyramid_path(settings, slide.id))
    assert pack.grid.level_count == 13
    assert pack.tile(12, 0, 0)[:2] == b"\xff\xd8"
    leftovers = [p.name for p in settings.pyramids_dir.iterdir()]
    assert leftovers == [f"{slide.id}.tilepack"]  # no scratch directory left behind


def test_urgent_jobs_run_first(client: TestClient, world: World, db: Database) -> None:
    routine = upload(client, world, "tech_north", BOXES_TIFF).json()
    urgent = upload(client, world, "tech_north", TINY_SVS, urgent=True).json()
    first = jobs.claim_next(db, "w1", LEASE, 3)
    second = jobs.claim_next(db, "w2", LEASE, 3)
    assert first is not None and second is not None
    assert str(first.slide_id) == urgent["id"] and first.priority > 0
    assert str(second.slide_id) == routine["id"]
    assert jobs.claim_next(db, "w3", LEASE, 3) is None  # both held by live leases


def test_job_of_a_killed_worker_runs_again(
    client: TestClient, world: World, db: Database, backend: Backend, tmp_path: Path
) -> None:
    slide_id = upload(client, world, "tech_north", BOXES_TIFF).json()["id"]
    settings = make_settings(backend, tmp_path / "data", job_lease_seconds=1.0)
    # A real worker process claims the job, then dies with SIGKILL before finishing.
    script = textwrap.dedent(
        """
        import time
        from datetime import timedelta
        from app.core.config import Settings
        from app.core.db import Database
        from workers import jobs
        db = Database.from_settings(Settings())
        job = jobs.claim_next(db, "doomed-worker", timedelta(seconds=1), 3)
        print("claimed" if job else "nothing", flush=True)
        time.sleep(600)
        """
    )
    doomed = subprocess.Popen(
        [PYTHON, "-c", script], env=child_env(settings), stdout=subprocess.PIPE, text=True
    )
    try:
        assert doomed.stdout is not None and doomed.stdout.readline().strip() == "claimed"
        doomed.kill()  # SIGKILL: no cleanup, the lease is simply never renewed
        doomed.wait()
    finally:
        if doomed.poll() is None:
            doomed.kill()
    held = job_of(db, slide_id)
    assert (held.state, held.lease_owner, held.attempts) == ("running", "doomed-worker", 1)
    pool = EmbeddedWorkers(db, settings)
    time.sleep(1.1)
    assert pool.run_once("rescuer")
    job = job_of(db, slide_id)
    assert (job.state, job.attempts, job.lease_owner) == ("done", 2, "rescuer")
    assert slide_row(db, slide_id).status == "ready"
    # The dead worker's late writes are refused: the lease is no longer its own.
    assert not jobs.finish(db, job.id, "doomed-worker", job.slide_id)
    assert not jobs.heartbeat(db, job.id, "doomed-worker", LEASE)


def test_failed_job_records_a_reason_and_the_worker_goes_on(
    client: TestClient, world: World, db: Database, settings: Settings
) -> None:
    damaged = upload(client, world, "tech_north", TINY_SVS, urgent=True).json()
    good = upload(client, world, "tech_north", BOXES_TIFF).json()
    stored = settings.data_dir / content_path(damaged["sha256"], ".svs")
    data = bytearray(stored.read_bytes())
    data[-1] ^= 0xFF  # a flipped byte on disk
    stored.chmod(0o644)
    stored.write_bytes(bytes(data))
    pool = EmbeddedWorkers(db, settings)
    assert pool.run_once("w") and pool.run_once("w")
    failed = slide_row(db, damaged["id"])
    assert failed.status == "failed"
    assert failed.error is not None and "SHA-256" in failed.error
    assert job_of(db, damaged["id"]).state == JobState.failed
    assert not pyramid_path(settings, failed.id).exists()
    assert slide_row(db, good["id"]).status == "ready"
    body = client.get(f"/api/slides/{damaged['id']}", headers=world.auth("tech_north")).json()
    assert body["status"] == "failed" and "SHA-256" in body["error"]


def test_a_file_the_engine_cannot_tile_fails_with_its_reason(
    world: World, db: Database, settings: Settings
) -> None:
    # Registered behind the API's back (it would refuse the file), so the build meets it.
    broken = SLIDES / "broken" / "broken.svs"
    sha = file_sha256(broken)
    relative = content_path(sha, ".svs")
    (settings.data_dir / relative).parent.mkdir(parents=True)
    shutil.copy(broken, settings.data_dir / relative)
    with db.write() as session:
        slide = SlideRecord(
            site_id=world.sites["NORTH"].id, name="broken.svs", sha256=sha,
            storage_path=relative.as_posix(), size_bytes=broken.stat().st_size,
            vendor="aperio", width=10, height=10,
        )  # fmt: skip
        session.add(slide)
        session.flush()
        session.add(Job(slide_id=slide.id))
    assert EmbeddedWorkers(db, settings).run_once("w")
    row = slide_row(db, slide.id)
    assert row.status == "failed"
    assert row.error is not None and "not a whole-slide image" in row.error
    assert list(settings.pyramids_dir.glob("*")) == []


def test_a_job_whose_workers_keep_dying_is_given_up(
    client: TestClient, world: World, db: Database, settings: Settings
) -> None:
    slide: dict[str, Any] = upload(client, world, "tech_north", TINY_SVS).json()
    short = timedelta(milliseconds=1)
    for attempt in range(1, 4):
        job = jobs.claim_next(db, f"dies-{attempt}", short, 3)
        assert job is not None and job.attempts == attempt
        time.sleep(0.01)
    assert jobs.claim_next(db, "next", LEASE, 3) is None
    job_row = job_of(db, slide["id"])
    assert job_row.state == "failed" and "gave up after 3 attempts" in (job_row.error or "")
    assert slide_row(db, slide["id"]).status == "failed"
