"""A slide of several files over HTTP (`POST /api/slides/sets`) and from the command
line (`slidebridge slide add FOLDER`): a DICOM series becomes one slide stored as a
folder content-addressed by its manifest; every way a set can be wrong is a 422 with
the reason and leaves nothing behind."""

from __future__ import annotations

import hashlib
import json
import shutil
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlmodel import col

from app.core.config import Settings
from app.core.db import Database
from app.core.storage import set_digest
from app.models.types import utcnow
from app.models.uploads import Upload
from app.services.uploads.reaper import reap_expired
from tests.api.test_slides import stored_files
from tests.conftest import World
from tests.tiler.slide_files import dicom_series as write_series
from tests.uploads import tus
from workers.embedded import EmbeddedWorkers


def manifest(folder: Path, **changes: Any) -> dict[str, Any]:
    files = [
        {
            "path": p.relative_to(folder).as_posix(),
            "size": p.stat().st_size,
            "sha256": hashlib.sha256(p.read_bytes()).hexdigest(),
        }
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    ]
    return {"name": folder.name, "files": files, **changes}


def send(
    client: TestClient,
    world: World,
    folder: Path,
    declared: dict[str, Any] | None = None,
    *,
    user: str = "tech_north",
    skip: tuple[str, ...] = (),
    extra: dict[str, bytes] | None = None,
) -> Any:
    declared = declared or manifest(folder)
    parts: list[tuple[str, Any]] = [("manifest", (None, json.dumps(declared)))]
    for item in declared["files"]:
        if item["path"] not in skip and (folder / item["path"]).is_file():
            parts.append(("file", (item["path"], (folder / item["path"]).read_bytes())))
    for name, data in (extra or {}).items():
        parts.append(("file", (name, data)))
    return client.post("/api/slides/sets", headers=world.auth(user), files=parts)


def test_a_dicom_series_becomes_one_slide(
    client: TestClient, world: World, settings: Settings, db: Database, dicom_series: Path
) -> None:
    response = send(client, world, dicom_series)
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["vendor"], body["width"], body["height"]) == ("dicom", 1024, 768)
    assert len(body["levels"]) == 3 and body["associated"] == ["label"]
    assert body["name"] == "series" and body["calibration"] == "file"
    digest = set_digest((f["path"], f["sha256"]) for f in manifest(dicom_series)["files"])
    assert body["sha256"] == digest
    stored = settings.slides_dir / digest[:2] / digest[2:4] / digest
    assert sorted(p.name for p in stored.iterdir()) == [
        "IM0001.dcm",
        "IM0002.dcm",
        "IM0003.dcm",
        "IM0004.dcm",
    ]
    assert len(stored_files(settings)) == 4  # nothing left in staging
    assert body["size_bytes"] == sum(p.stat().st_size for p in stored.iterdir())
    again = send(client, world, dicom_series)
    assert again.status_code == 200 and again.json()["id"] == body["id"]
    headers = world.auth("path_north")
    tile = client.get(f"/dzi/{body['id']}_files/10/0_0.jpeg", headers=headers)
    assert tile.status_code == 200
    label = client.get(f"/api/slides/{body['id']}/associated/label", headers=headers)
    assert label.status_code == 200
    # The pyramid job checks the folder against its manifest digest and builds.
    assert EmbeddedWorkers(db, settings).run_once("test-worker")
    built = client.get(f"/api/slides/{body['id']}", headers=headers).json()
    assert (built["status"], built["error"]) == ("ready", None)
    event = client.get(
        "/api/audit", params={"action": "slide.upload"}, headers=world.auth("admin")
    ).json()["items"][-1]
    assert (event["object_id"], event["detail"]) == (body["id"], "series")


def _altered(folder: Path) -> dict[str, Any]:
    declared = manifest(folder)
    declared["files"][1]["sha256"] = "0" * 64
    return declared


@pytest.mark.parametrize(
    ("case", "words"),
    [
        ("missing", "incomplete slide: IM0002.dcm was not sent"),
        ("altered", "IM0002.dcm: its SHA-256 differs from the manifest's"),
        ("undeclared", "'IM0009.dcm' is not in the manifest"),
        ("mixed", "2 DICOM series"),
        ("escape", "not a file name inside one slide folder"),
        ("no-manifest", "send the 'manifest' field before the files"),
        ("bad-manifest", "the manifest is not valid"),
        ("two-manifests", "one 'manifest' field per slide"),
    ],
)
def test_a_wrong_set_is_422_with_the_reason_and_nothing_is_kept(
    client: TestClient,
    world: World,
    settings: Settings,
    dicom_series: Path,
    tmp_path: Path,
    case: str,
    words: str,
) -> None:
    if case == "missing":
        response = send(client, world, dicom_series, skip=("IM0002.dcm",))
    elif case == "altered":
        response = send(client, world, dicom_series, _altered(dicom_series))
    elif case == "undeclared":
        response = send(client, world, dicom_series, extra={"IM0009.dcm": b"x"})
    elif case == "mixed":
        other = write_series(tmp_path / "other", series="1.2.3.9")
        shutil.copy(other / "IM0001.dcm", dicom_series / "IM0009.dcm")
        response = send(client, world, dicom_series)
    elif case == "escape":
        declared = manifest(dicom_series)
        declared["files"][0]["path"] = "../../IM0001.dcm"
        response = send(client, world, dicom_series, declared)
    elif case == "no-manifest":
        data = (dicom_series / "IM0001.dcm").read_bytes()
        response = client.post(
            "/api/slides/sets",
            headers=world.auth("tech_north"),
            files=[("file", ("IM0001.dcm", data))],
        )
    elif case == "two-manifests":
        text = json.dumps(manifest(dicom_series))
        response = client.post(
            "/api/slides/sets",
            headers=world.auth("tech_north"),
            files=[("manifest", (None, text)), ("manifest", (None, text))],
        )
    else:
        response = client.post(
            "/api/slides/sets",
            headers=world.auth("tech_north"),
            files=[("manifest", (None, '{"files": "all of them"}'))],
        )
    assert response.status_code == 422, response.text
    assert words in response.json()["detail"]
    assert stored_files(settings) == []
    assert client.get("/api/slides", headers=world.auth("admin")).json()["total"] == 0


def test_a_surgeon_may_not_add_a_set(client: TestClient, world: World, dicom_series: Path) -> None:
    response = send(client, world, dicom_series, user="surgeon_north")
    assert response.status_code == 403


def test_a_mirax_slide_becomes_one_slide(
    client: TestClient, world: World, settings: Settings, db: Database, mirax_folder: Path
) -> None:
    response = send(client, world, mirax_folder)
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["vendor"], body["width"], body["height"]) == ("mirax", 1536, 1024)
    digest = body["sha256"]
    stored = settings.slides_dir / digest[:2] / digest[2:4] / digest
    assert (stored / "scan.mrxs").is_file() and (stored / "scan" / "Slidedat.ini").is_file()
    assert EmbeddedWorkers(db, settings).run_once("test-worker")
    built = client.get(f"/api/slides/{body['id']}", headers=world.auth("path_north")).json()
    assert (built["status"], built["error"]) == ("ready", None)
    # Deleting the slide removes its folder.
    assert (
        client.delete(f"/api/slides/{body['id']}", headers=world.auth("admin")).status_code == 204
    )
    assert not stored.exists()


def test_a_mirax_slide_without_a_data_file_is_refused(
    client: TestClient, world: World, settings: Settings, mirax_folder: Path
) -> None:
    declared = manifest(mirax_folder)
    declared["files"] = [f for f in declared["files"] if f["path"] != "scan/Data0001.dat"]
    response = send(client, world, mirax_folder, declared)
    assert response.status_code == 422
    assert "incomplete MIRAX slide: scan/Data0001.dat is missing" in response.json()["detail"]
    assert stored_files(settings) == []


def _send_part(client: TestClient, world: World, path: Path, user: str = "tech_north") -> str:
    """One file of a set with tus (purpose `set_part`), in two requests as after a cut."""
    data = path.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    created = tus.create(
        client, world, user, len(data), filename=path.name, purpose="set_part", sha256=sha
    )
    assert created.status_code == 201, created.text
    location = created.headers["location"]
    half = len(data) // 2
    assert tus.patch(client, world, user, location, 0, data[:half]).status_code == 204
    done = tus.patch(client, world, user, location, half, data[half:])
    assert done.status_code == 204, done.text
    return location


def test_a_set_sent_file_by_file_with_tus_resumes_and_is_assembled(
    client: TestClient, world: World, settings: Settings, db: Database, dicom_series: Path
) -> None:
    """Each file as a resumable set part; then the manifest alone: one slide, the same as
    a set sent whole, and the parts' bytes gone once they are in it."""
    declared = manifest(dicom_series)
    names = [item["path"] for item in declared["files"]]
    for name in names[:-1]:
        location = _send_part(client, world, dicom_series / name)
        held = client.get(location, headers={**tus.TUS, **world.auth("tech_north")}).json()
        assert (held["status"], held["slide_id"]) == ("completed", None)
    # One file neither held nor in the body: incomplete, named, nothing kept.
    refused = send(client, world, dicom_series, skip=tuple(names))
    assert refused.status_code == 422
    assert refused.json()["detail"] == f"incomplete slide: {names[-1]} was not sent"
    # The last file in the body, the others from the parts held.
    response = send(client, world, dicom_series, skip=tuple(names[:-1]))
    assert response.status_code == 201, response.text
    whole = response.json()
    digest = set_digest((f["path"], f["sha256"]) for f in declared["files"])
    assert whole["sha256"] == digest and whole["name"] == "series"
    stored = settings.slides_dir / digest[:2] / digest[2:4] / digest
    assert sorted(p.name for p in stored.iterdir()) == names
    for name in names:
        assert (stored / name).read_bytes() == (dicom_series / name).read_bytes()
    assert not list((settings.data_dir / "uploads").glob("*.part"))  # released
    # The parts were used once: a set naming them again must send them again.
    again = send(client, world, dicom_series, skip=tuple(names))
    assert again.status_code == 422


def test_another_sites_parts_are_not_used(
    client: TestClient, world: World, settings: Settings, dicom_series: Path
) -> None:
    """A part is the site's: another site's manifest naming the same SHA-256s is told the
    files were not sent (nothing says another site holds them)."""
    declared = manifest(dicom_series)
    names = [item["path"] for item in declared["files"]]
    for name in names:
        _send_part(client, world, dicom_series / name)
    other = send(client, world, dicom_series, skip=tuple(names), user="tech_south")
    assert other.status_code == 422
    assert "was not sent" in other.json()["detail"]
    mine = send(client, world, dicom_series, skip=tuple(names))
    assert mine.status_code == 201, mine.text


def test_a_set_part_must_declare_its_sha256_and_match_it(
    client: TestClient, world: World, dicom_series: Path
) -> None:
    data = (dicom_series / "IM0001.dcm").read_bytes()
    undeclared = tus.create(client, world, "tech_north", len(data), purpose="set_part")
    assert undeclared.status_code == 400
    assert "sha256" in undeclared.json()["detail"]
    wrong = tus.create(client, world, "tech_north", len(data), purpose="set_part", sha256="0" * 64)
    location = wrong.headers["location"]
    damaged = tus.patch(client, world, "tech_north", location, 0, data)
    assert damaged.status_code == 422
    assert "SHA-256" in damaged.json()["detail"]


def test_a_part_no_manifest_named_expires_and_its_bytes_go(
    client: TestClient, world: World, settings: Settings, db: Database, dicom_series: Path
) -> None:
    location = _send_part(client, world, dicom_series / "IM0001.dcm")
    upload_id = uuid.UUID(location.rstrip("/").rsplit("/", 1)[1])
    part = settings.data_dir / "uploads" / f"{upload_id.hex}.part"
    assert part.exists()  # held for the manifest
    with db.write() as session:
        session.execute(
            update(Upload)
            .where(col(Upload.id) == upload_id)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    assert reap_expired(db, settings) == 1
    assert not part.exists()
    row = client.get(location, headers={**tus.TUS, **world.auth("tech_north")}).json()
    assert row["status"] == "rejected" and "manifest" in row["error"]
