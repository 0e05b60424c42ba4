"""The tus protocol on the server: each refusal has its status and changes nothing."""

from __future__ import annotations

import hashlib
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from app.core.config import Settings
from app.core.db import Database
from app.main import create_app
from app.models.types import utcnow
from app.models.uploads import Upload
from app.services.uploads.reaper import reap_expired
from app.services.uploads.store import PartWriter, part_path
from tests.conftest import SLIDES, SMALL_SVS, World
from tests.uploads.tus import TUS, create, head, metadata, patch

DATA = SMALL_SVS.read_bytes()
SHA = hashlib.sha256(DATA).hexdigest()


def _part(settings: Settings, location: str) -> Path:
    return part_path(settings.data_dir, uuid.UUID(location.rsplit("/", 1)[1]))


def _files(settings: Settings) -> list[Path]:
    roots = [settings.data_dir / name for name in ("slides", "staging", "uploads")]
    return sorted(p for root in roots if root.exists() for p in root.rglob("*") if p.is_file())


def _offset(client: TestClient, world: World, location: str, user: str = "tech_north") -> int:
    response = head(client, world, user, location)
    assert response.status_code == 200, response.status_code
    return int(response.headers["Upload-Offset"])


def test_discovery_advertises_extensions_and_limits(client: TestClient, settings: Settings) -> None:
    response = client.options("/api/uploads/")
    assert response.status_code == 204
    assert response.headers["Tus-Version"] == "1.0.0"
    extensions = set(response.headers["Tus-Extension"].split(","))
    wanted = {"creation", "creation-with-upload", "expiration", "checksum", "termination"}
    assert extensions >= wanted
    assert set(response.headers["Tus-Checksum-Algorithm"].split(",")) == {"sha1", "sha256"}
    assert response.headers["Tus-Max-Size"] == str(settings.max_upload_bytes)
    exposed = response.headers["Access-Control-Expose-Headers"]
    assert "Upload-Offset" in exposed and "Location" in exposed


@pytest.mark.parametrize("algorithm", ["sha1", "sha256"])
def test_chunks_with_checksums_become_a_slide(
    client: TestClient, world: World, settings: Settings, algorithm: str
) -> None:
    created = create(client, world, "tech_north", len(DATA), filename="CMU-1.svs", sha256=SHA)
    assert created.status_code == 201, created.text
    location = created.headers["Location"]
    assert created.headers["Upload-Offset"] == "0" and "Upload-Expires" in created.headers
    step = 300_000
    for start in range(0, len(DATA), step):
        response = patch(
            client, world, "tech_north", location, start, DATA[start : start + step], "good",
            algorithm,
        )  # fmt: skip
        assert response.status_code == 204, response.text
        assert int(response.headers["Upload-Offset"]) == min(start + step, len(DATA))
    slide_id = response.headers["Slide-Id"]
    described = head(client, world, "tech_north", location)
    assert described.headers["Cache-Control"] == "no-store"
    assert described.headers["Upload-Offset"] == str(len(DATA))
    assert described.headers["Slide-Id"] == slide_id
    assert "filename" in described.headers["Upload-Metadata"]
    slide = client.get(f"/api/slides/{slide_id}", headers=world.auth("tech_north")).json()
    assert (slide["sha256"], slide["name"], slide["site"]) == (SHA, "CMU-1.svs", "NORTH")
    status = client.get(location, headers=world.auth("tech_north")).json()
    assert status["status"] == "completed" and status["slide_id"] == slide_id
    stored = settings.data_dir / "slides" / SHA[:2] / SHA[2:4] / f"{SHA}.svs"
    assert _files(settings) == [stored]
    assert stored.read_bytes() == DATA


def test_creation_with_upload(client: TestClient, world: World) -> None:
    created = create(client, world, "tech_north", len(DATA), DATA[:1000], filename="a.svs")
    assert created.status_code == 201, created.text
    assert created.headers["Upload-Offset"] == "1000"
    rest = patch(client, world, "tech_north", created.headers["Location"], 1000, DATA[1000:])
    assert rest.status_code == 204 and "Slide-Id" in rest.headers


def test_wrong_offset_is_409_and_changes_nothing(
    client: TestClient, world: World, settings: Settings
) -> None:
    location = create(client, world, "tech_north", len(DATA)).headers["Location"]
    assert patch(client, world, "tech_north", location, 0, DATA[:5000]).status_code == 204
    for wrong in (0, 4999, 5001, len(DATA)):
        response = patch(client, world, "tech_north", location, wrong, DATA[wrong : wrong + 10])
        assert response.status_code == 409, (wrong, response.text)
        assert response.headers["Tus-Resumable"] == "1.0.0"
    assert _offset(client, world, location) == 5000
    assert _part(settings, location).read_bytes() == DATA[:5000]


@pytest.mark.parametrize("algorithm", ["sha1", "sha256"])
def test_bad_checksum_appends_nothing(
    client: TestClient, world: World, settings: Settings, algorithm: str
) -> None:
    location = create(client, world, "tech_north", len(DATA)).headers["Location"]
    assert patch(client, world, "tech_north", location, 0, DATA[:100]).status_code == 204
    bad = patch(client, world, "tech_north", location, 100, DATA[100:9000], "bad", algorithm)
    assert bad.status_code == 460, bad.text
    assert _offset(client, world, location) == 100
    assert _part(settings, location).read_bytes() == DATA[:100]
    headers = {**TUS, "Content-Type": "application/offset+octet-stream", "Upload-Offset": "100"}
    for value in ("md5 AAAA", "sha1 not-base64!", "sha256 AAAA"):
        response = client.patch(
            location,
            headers={**headers, **world.auth("tech_north"), "Upload-Checksum": value},
            content=DATA[100:200],
        )
        assert response.status_code == 400, value
    assert _part(settings, location).read_bytes() == DATA[:100]


def test_size_limits_are_checked_before_bytes_are_written(
    backend: object, tmp_path: Path, world: World, settings: Settings, client: TestClient
) -> None:
    over = create(client, world, "tech_north", settings.max_upload_bytes + 1)
    assert over.status_code == 413
    location = create(client, world, "tech_north", 1000).headers["Location"]
    past_end = patch(client, world, "tech_north", location, 0, DATA[:1001])
    assert past_end.status_code == 413
    assert _offset(client, world, location) == 0 and _part(settings, location).stat().st_size == 0
    from app.main import create_app
    from tests.conftest import make_settings

    quota = make_settings(backend, settings.data_dir, site_quota_bytes=len(DATA) + 10)  # type: ignore[arg-type]
    with TestClient(create_app(quota, migrate=False), base_url="https://testserver") as small:
        first = create(small, world, "tech_north", len(DATA) - 1000)
        assert first.status_code == 201  # 1000 + len-1000 reserved now: the next one is over
        second = create(small, world, "tech_north", 20)
        assert second.status_code == 413, second.text
        assert create(small, world, "tech_south", 20).status_code == 201  # other site's quota


def test_another_sites_upload_does_not_exist_for_you(
    client: TestClient, world: World, settings: Settings
) -> None:
    location = create(client, world, "tech_north", len(DATA)).headers["Location"]
    assert patch(client, world, "tech_north", location, 0, DATA[:10]).status_code == 204
    for user in ("tech_south", "path_south"):
        assert head(client, world, user, location).status_code == 404
        assert patch(client, world, user, location, 10, DATA[10:20]).status_code == 404
        gone = client.delete(location, headers={**TUS, **world.auth(user)})
        assert gone.status_code == 404
        assert client.get(location, headers=world.auth(user)).status_code == 404
    assert _offset(client, world, location, "path_north") == 10  # covering pathologist sees it
    assert _offset(client, world, location, "admin") == 10
    assert _part(settings, location).read_bytes() == DATA[:10]
    create_elsewhere = create(client, world, "tech_north", 10, site="SOUTH")
    assert create_elsewhere.status_code == 422
    assert create(client, world, "surgeon_north", 10).status_code == 403
    no_auth = client.post("/api/uploads/", headers={**TUS, "Upload-Length": "10"})
    assert no_auth.status_code == 401 and no_auth.headers["Tus-Resumable"] == "1.0.0"
    assert head(client, world, "tech_north", "/api/uploads/not-a-uuid").status_code == 404


@pytest.mark.parametrize(
    ("given", "shown"),
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\evil.svs", "evil.svs"),
        (b"slide\x00.svs\x00/../x", "x"),
        ("a" * 5000 + ".svs", "a" * 255),
    ],
    ids=["dotdot", "backslash", "nul", "long"],
)
def test_hostile_file_names_are_display_text(
    client: TestClient, world: World, settings: Settings, given: str | bytes, shown: str
) -> None:
    created = create(client, world, "tech_north", len(DATA), filename=given)
    if len(metadata(filename=given)) > 4096:
        assert created.status_code == 400  # metadata header beyond the limit: nothing created
        assert not (settings.data_dir / "uploads").exists() or not any(
            (settings.data_dir / "uploads").iterdir()
        )
        return
    assert created.status_code == 201, created.text
    location = created.headers["Location"]
    assert _part(settings, location).parent == settings.data_dir / "uploads"
    done = patch(client, world, "tech_north", location, 0, DATA)
    assert done.status_code == 204, done.text
    status = client.get(location, headers=world.auth("tech_north")).json()
    assert status["filename"] == shown
    assert all(settings.data_dir in path.parents for path in _files(settings))
    assert not Path("/etc/passwd.svs").exists()


def test_long_name_under_the_metadata_limit_is_cut_to_255(client: TestClient, world: World) -> None:
    created = create(client, world, "tech_north", 10, filename="b" * 1000)
    assert created.status_code == 201
    status = client.get(created.headers["Location"], headers=world.auth("tech_north")).json()
    assert status["filename"] == "b" * 255


@pytest.mark.parametrize(
    "path", [SLIDES / "broken" / "broken.svs", SLIDES / "broken" / "zero_gi.tif"]
)
def test_a_file_that_is_not_a_slide_is_refused_and_kept_nowhere(
    client: TestClient, world: World, settings: Settings, path: Path
) -> None:
    data = path.read_bytes()
    location = create(client, world, "tech_north", len(data), filename=path.name).headers[
        "Location"
    ]
    final = patch(client, world, "tech_north", location, 0, data)
    assert final.status_code == 422
    assert final.json()["detail"]
    assert _files(settings) == []
    assert head(client, world, "tech_north", location).status_code == 410
    status = client.get(location, headers=world.auth("tech_north")).json()
    assert status["status"] == "rejected" and status["error"]
    assert client.get("/api/slides", headers=world.auth("admin")).json()["total"] == 0


def test_declared_sha256_must_match_the_whole_file(
    client: TestClient, world: World, settings: Settings
) -> None:
    wrong = hashlib.sha256(b"other").hexdigest()
    location = create(client, world, "tech_north", len(DATA), sha256=wrong).headers["Location"]
    final = patch(client, world, "tech_north", location, 0, DATA)
    assert final.status_code == 422 and "SHA-256" in final.json()["detail"]
    assert _files(settings) == []
    assert create(client, world, "tech_north", 10, sha256="xyz").status_code == 400


def test_termination_removes_bytes_and_row(
    client: TestClient, world: World, settings: Settings
) -> None:
    location = create(client, world, "tech_north", len(DATA)).headers["Location"]
    patch(client, world, "tech_north", location, 0, DATA[:50])
    response = client.delete(location, headers={**TUS, **world.auth("tech_north")})
    assert response.status_code == 204
    assert head(client, world, "tech_north", location).status_code == 404
    assert _files(settings) == []


def test_expired_uploads_are_gone_and_reaped(
    client: TestClient, world: World, settings: Settings, db: Database
) -> None:
    location = create(client, world, "tech_north", len(DATA)).headers["Location"]
    keep = create(client, world, "tech_north", len(DATA)).headers["Location"]
    patch(client, world, "tech_north", location, 0, DATA[:50])
    with db.write() as session:
        session.execute(
            update(Upload)
            .where(Upload.id == uuid.UUID(_part(settings, location).stem))  # type: ignore[arg-type]
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    assert head(client, world, "tech_north", location).status_code == 410
    assert patch(client, world, "tech_north", location, 50, DATA[50:60]).status_code == 410
    assert reap_expired(db, settings) == 1
    assert head(client, world, "tech_north", location).status_code == 404
    assert not _part(settings, location).exists() and _part(settings, keep).exists()


def test_one_writer_at_a_time(client: TestClient, world: World, settings: Settings) -> None:
    location = create(client, world, "tech_north", len(DATA)).headers["Location"]
    holder = PartWriter(_part(settings, location))
    try:
        busy = patch(client, world, "tech_north", location, 0, DATA[:10])
        assert busy.status_code == 423
    finally:
        holder.close()  # as a dropped connection's handler does
    assert patch(client, world, "tech_north", location, 0, DATA[:10]).status_code == 204


def test_version_content_type_and_cors(client: TestClient, world: World) -> None:
    location = create(client, world, "tech_north", len(DATA)).headers["Location"]
    auth = world.auth("tech_north")
    old = client.head(location, headers={**auth, "Tus-Resumable": "0.2.2"})
    assert old.status_code == 412
    wrong_type = client.patch(
        location, headers={**TUS, **auth, "Upload-Offset": "0"}, content=b"abc"
    )
    assert wrong_type.status_code == 415
    assert _offset(client, world, location) == 0
    no_length = client.post("/api/uploads/", headers={**TUS, **auth})
    assert no_length.status_code == 400
    settings = client.app.state.settings  # type: ignore[attr-defined]
    portal = settings.model_copy(update={"upload_cors_origins": ["https://portal.example"]})
    client = TestClient(create_app(portal, migrate=False))
    preflight = client.options(
        "/api/uploads/",
        headers={"Origin": "https://portal.example", "Access-Control-Request-Method": "POST"},
    )
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://portal.example"
    assert "Upload-Offset" in preflight.headers["Access-Control-Allow-Headers"]
    stranger = client.options("/api/uploads/", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in stranger.headers


def test_uploads_are_audited(client: TestClient, world: World, db: Database) -> None:
    from sqlmodel import select

    from app.models.audit import AuditEvent

    location = create(client, world, "tech_north", len(DATA), filename="CMU-1.svs").headers[
        "Location"
    ]
    assert patch(client, world, "tech_north", location, 0, DATA).status_code == 204
    assert client.get(location, headers=world.auth("tech_south")).status_code == 404
    with db.read() as session:
        events = session.exec(select(AuditEvent).order_by(AuditEvent.at)).all()  # type: ignore[arg-type]
    seen = [(event.action, event.outcome, event.username) for event in events]
    assert ("upload.create", "success", "tech_north") in seen
    assert ("upload.complete", "success", "tech_north") in seen
    assert ("upload.read", "not_found", "tech_south") in seen
