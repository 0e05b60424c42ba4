"""Attachments on a case through the tus upload: site rules, audit, and hostile files
(a photograph with GPS tags, a decompression-bomb PNG, a PDF with JavaScript)."""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import pyvips
from fastapi.testclient import TestClient
from sqlmodel import select

from app.core.config import Settings
from app.core.db import Database
from app.main import create_app
from app.models.audit import AuditEvent, Outcome
from app.models.slides import SlideRecord
from tests.attachments.files import CAMERA_MARK, GPS_MARK, bomb_png, pdf, photo_with_gps
from tests.cases.conftest import create_case
from tests.conftest import Backend, World, make_settings
from tests.uploads import tus


def attach(
    client: TestClient, world: World, user: str, case_id: str, name: str, content: bytes
) -> Any:
    """The whole file in the creation request (tus creation-with-upload)."""
    return tus.create(
        client, world, user, len(content), content,
        filename=name, case=case_id, purpose="attachment",
    )  # fmt: skip


def attachments(client: TestClient, world: World, user: str, case_id: str) -> Any:
    return client.get(f"/api/cases/{case_id}/attachments", headers=world.auth(user))


def audit_rows(db: Database, action: str) -> list[AuditEvent]:
    with db.read() as session:
        return list(session.exec(select(AuditEvent).where(AuditEvent.action == action)).all())


def every_file(root: Path) -> list[Path]:
    return [path for path in root.rglob("*") if path.is_file()]


def test_photo_is_turned_upright_and_keeps_no_metadata(
    client: TestClient, world: World, settings: Settings, db: Database
) -> None:
    case = create_case(client, world, user="surgeon_north")
    photo = photo_with_gps()
    response = attach(client, world, "surgeon_north", case["id"], "gross photo.jpg", photo)
    assert response.status_code == 201, response.text
    assert response.headers["Upload-Offset"] == str(len(photo))

    items = attachments(client, world, "surgeon_north", case["id"]).json()["items"]
    assert len(items) == 1
    item = items[0]
    assert item["kind"] == "image" and item["received_type"] == "image/jpeg"
    assert item["name"] == "gross photo.jpg" and item["added_by"] == "surgeon_north"
    assert item["href"] == f"/slides/{item['slide_id']}"
    with db.read() as session:
        slide = session.get(SlideRecord, uuid.UUID(item["slide_id"]))
    assert slide is not None
    stored = settings.data_dir / slide.storage_path
    assert item["sha256"] == slide.sha256 != item["received_sha256"]

    # The quarter turn is in the pixels: 64x32 stored landscape shows as 32x64 portrait,
    # the red half at the top.
    image = pyvips.Image.new_from_file(str(stored))
    assert (image.width, image.height) == (32, 64) == (slide.width, slide.height)
    top, bottom = image(16, 8), image(16, 56)
    assert top[0] > 200 and top[2] < 60, top
    assert bottom[2] > 200 and bottom[0] < 60, bottom
    for field in ("exif-data", "xmp-data", "iptc-data"):
        assert image.get_typeof(field) == 0, field
    assert image.get("orientation") == 1  # the TIFF's default: nothing left to turn
    # No copy of the EXIF anywhere: not in the stored file, the database or any other file.
    for path in every_file(settings.data_dir):
        content = path.read_bytes()
        assert GPS_MARK not in content and CAMERA_MARK not in content, path

    # The case's slides are its scans: a photograph is not one of them.
    case_now = client.get(f"/api/cases/{case['id']}", headers=world.auth("surgeon_north")).json()
    assert case_now["slides"] == [] and case_now["status"] == "requested"
    assert [a["id"] for a in case_now["attachments"]] == [item["id"]]
    assert case_now["timeline"][-1]["kind"] == "attachment"
    # It opens as a slide: the viewer's metadata and a tile.
    meta = client.get(f"/api/slides/{item['slide_id']}", headers=world.auth("path_north"))
    assert meta.status_code == 200 and meta.json()["width"] == 32
    assert meta.json()["vendor"] == "image-jpeg" and meta.json()["mpp_x"] is None
    tile = client.get(f"/dzi/{item['slide_id']}_files/6/0_0.jpeg", headers=world.auth("path_north"))
    assert tile.status_code == 200, tile.text
    added = audit_rows(db, "attachment.add")
    assert [(row.outcome, row.object_id) for row in added] == [(Outcome.success, item["id"])]


def test_site_rules_and_audit(client: TestClient, world: World, db: Database) -> None:
    case = create_case(client, world)
    response = attach(client, world, "tech_north", case["id"], "request form.pdf", pdf())
    assert response.status_code == 201, response.text
    document = attachments(client, world, "tech_north", case["id"]).json()["items"][0]
    file_url = document["href"]
    assert file_url == f"/api/cases/{case['id']}/attachments/{document['id']}/file"

    # Another site's staff and pathologists: no such case, no such file.
    for user in ("tech_south", "path_south"):
        assert attachments(client, world, user, case["id"]).status_code == 404
        assert client.get(file_url, headers=world.auth(user)).status_code == 404
        refused = attach(client, world, user, case["id"], "x.pdf", pdf())
        assert refused.status_code == 422, refused.text
    # The site's own pathologist reads them; an admin runs the service and adds none.
    assert attachments(client, world, "path_north", case["id"]).status_code == 200
    assert client.get(file_url, headers=world.auth("path_north")).status_code == 200
    assert attach(client, world, "admin", case["id"], "x.pdf", pdf()).status_code == 403
    # An attachment's upload names its case.
    no_case = tus.create(client, world, "tech_north", 10, b"%PDF-1.4\n\n", purpose="attachment")
    assert no_case.status_code == 400, no_case.text

    lists = audit_rows(db, "attachment.list")
    assert {(row.username, row.outcome) for row in lists} == {
        ("tech_north", Outcome.success),
        ("tech_south", Outcome.not_found),
        ("path_south", Outcome.not_found),
        ("path_north", Outcome.success),
    }
    downloads = audit_rows(db, "attachment.download")
    assert {(row.username, row.outcome) for row in downloads} == {
        ("tech_south", Outcome.not_found),
        ("path_south", Outcome.not_found),
        ("path_north", Outcome.success),
    }


def test_pdf_with_javascript_is_kept_flagged_and_only_downloaded(
    client: TestClient, world: World
) -> None:
    case = create_case(client, world)
    hostile = pdf(javascript=True)
    response = attach(client, world, "tech_north", case["id"], "prior report 报告.pdf", hostile)
    assert response.status_code == 201, response.text
    item = attachments(client, world, "tech_north", case["id"]).json()["items"][0]
    assert item["kind"] == "document"
    assert item["active_content"] == "/JS /JavaScript /OpenAction"

    answer = client.get(item["href"], headers=world.auth("path_north"))
    assert answer.status_code == 200
    assert answer.content == hostile  # kept byte for byte: a clinical record
    assert answer.headers["content-type"] == "application/pdf"
    assert answer.headers["content-disposition"].startswith("attachment;")
    assert (
        "filename*=utf-8''prior%20report%20%E6%8A%A5%E5%91%8A.pdf"
        in (answer.headers["content-disposition"])
    )
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["content-security-policy"].startswith("sandbox")
    # An image attachment has no file route: it opens in the viewer.
    photo = attach(client, world, "tech_north", case["id"], "p.jpg", photo_with_gps())
    assert photo.status_code == 201
    image = attachments(client, world, "tech_north", case["id"]).json()["items"][1]
    wrong = client.get(
        f"/api/cases/{case['id']}/attachments/{image['id']}/file",
        headers=world.auth("tech_north"),
    )
    assert wrong.status_code == 404
    plain = attach(client, world, "tech_north", case["id"], "form.pdf", pdf())
    assert plain.status_code == 201
    third = attachments(client, world, "tech_north", case["id"]).json()["items"][2]
    assert third["active_content"] is None


def test_decompression_bomb_is_refused_and_nothing_is_lost(
    client: TestClient, world: World, settings: Settings, db: Database
) -> None:
    case = create_case(client, world)
    first = attach(client, world, "tech_north", case["id"], "form.pdf", pdf())
    assert first.status_code == 201
    with db.read() as session:
        slides_before = len(session.exec(select(SlideRecord)).all())

    bomb = bomb_png()
    response = attach(client, world, "tech_north", case["id"], "bomb.png", bomb)
    assert response.status_code == 422, response.text
    reason = response.json()["detail"]
    assert "bomb.png" in reason and "30000x30000" in reason and "megapixels" in reason
    # The upload is kept, marked refused with the reason; its bytes are gone.
    location = next(
        row.object_id for row in audit_rows(db, "upload.create") if row.detail == "bomb.png"
    )
    status = client.get(f"/api/uploads/{location}", headers=world.auth("tech_north")).json()
    assert status["status"] == "rejected" and "megapixels" in status["error"]
    rejected = audit_rows(db, "upload.reject")
    assert [row.outcome for row in rejected] == [Outcome.failure]
    # Nothing else changed: the earlier attachment, the case, no slide, no staged file.
    items = attachments(client, world, "tech_north", case["id"]).json()["items"]
    assert [item["name"] for item in items] == ["form.pdf"]
    with db.read() as session:
        assert len(session.exec(select(SlideRecord)).all()) == slides_before
    assert every_file(settings.staging_dir) == []
    assert list((settings.data_dir / "uploads").glob("*")) == []


def test_other_files_are_415_with_the_reason(client: TestClient, world: World) -> None:
    case = create_case(client, world)
    html = b"<html><script>alert(1)</script></html>"
    response = attach(client, world, "tech_north", case["id"], "report.pdf", html)
    assert response.status_code == 415, response.text
    assert "JPEG" in response.json()["detail"] and "PDF" in response.json()["detail"]
    # A HEIF whose codec the hub's libheif lacks (HEVC: only AVIF is built in). Made from
    # an AVIF with its codec names changed, as a phone's HEIC differs from an AVIF.
    avif = pyvips.Image.black(16, 16, bands=3).heifsave_buffer(compression="av1")
    heic = avif.replace(b"av01", b"hvc1").replace(b"av1C", b"hvcC").replace(b"avif", b"heic")
    refused = attach(client, world, "tech_north", case["id"], "IMG_0001.HEIC", heic)
    assert refused.status_code == 415, refused.text
    assert "HEIC" in refused.json()["detail"] and "JPEG" in refused.json()["detail"]
    assert attachments(client, world, "tech_north", case["id"]).json()["items"] == []


def test_cancelled_case_takes_no_attachment(client: TestClient, world: World) -> None:
    case = create_case(client, world)
    cancel = client.post(f"/api/cases/{case['id']}/cancel", headers=world.auth("tech_north"))
    assert cancel.status_code == 200, cancel.text
    response = attach(client, world, "tech_north", case["id"], "late.pdf", pdf())
    assert response.status_code == 409, response.text


def test_remove_an_attachment_until_the_case_is_reported(
    client: TestClient, world: World, settings: Settings, db: Database
) -> None:
    case = create_case(client, world)
    for name, content in (("wrong patient.jpg", photo_with_gps()), ("form.pdf", pdf())):
        assert attach(client, world, "tech_north", case["id"], name, content).status_code == 201
    photo, document = attachments(client, world, "tech_north", case["id"]).json()["items"]
    url = f"/api/cases/{case['id']}/attachments/{photo['id']}"

    # Another site's staff: no such attachment; an admin adds and removes none.
    assert client.delete(url, headers=world.auth("tech_south")).status_code == 404
    assert client.delete(url, headers=world.auth("admin")).status_code == 403
    assert client.delete(url, headers=world.auth("surgeon_north")).status_code == 204
    assert client.delete(url, headers=world.auth("surgeon_north")).status_code == 404
    # The photograph's slide went with it; the document stays.
    gone = client.get(f"/api/slides/{photo['slide_id']}", headers=world.auth("path_north"))
    assert gone.status_code == 404
    left = attachments(client, world, "tech_north", case["id"]).json()["items"]
    assert [item["id"] for item in left] == [document["id"]]
    now = client.get(f"/api/cases/{case['id']}", headers=world.auth("tech_north")).json()
    assert now["timeline"][-1]["kind"] == "attachment_removed"
    assert now["timeline"][-1]["detail"] == "wrong patient.jpg"
    removals = audit_rows(db, "attachment.delete")
    assert sorted((row.username, row.outcome) for row in removals) == [
        ("admin", Outcome.denied),
        ("surgeon_north", Outcome.not_found),
        ("surgeon_north", Outcome.success),
        ("tech_south", Outcome.not_found),
    ]
    # Once the case is closed its attachments stay in its record.
    client.post(f"/api/cases/{case['id']}/cancel", headers=world.auth("tech_north"))
    stays = client.delete(
        f"/api/cases/{case['id']}/attachments/{document['id']}", headers=world.auth("tech_north")
    )
    assert stays.status_code == 409, stays.text
    stored = settings.data_dir / "slides" / document["sha256"][:2]
    assert any(stored.rglob("*.pdf"))


def test_documents_count_towards_the_sites_quota(
    backend: Backend, client: TestClient, world: World, settings: Settings
) -> None:
    case = create_case(client, world)
    document = pdf()
    quota = make_settings(backend, settings.data_dir, site_quota_bytes=2 * len(document) + 10)
    with TestClient(create_app(quota, migrate=False), base_url="https://testserver") as small:
        for name in ("one.pdf", "two.pdf"):
            done = attach(small, world, "tech_north", case["id"], name, document)
            assert done.status_code == 201, done.text
        # Two documents stored: a third does not fit, even though no upload is open.
        third = attach(small, world, "tech_north", case["id"], "three.pdf", document)
        assert third.status_code == 413, third.text
        assert "quota" in third.json()["detail"]


def _png_with_text() -> bytes:
    from PIL import Image, PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", CAMERA_MARK.decode())
    info.add_itxt("XML:com.adobe.xmp", GPS_MARK.decode())
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 120, 160)).save(out, "PNG", pnginfo=info)
    return out.getvalue()


def _camera_tiff() -> bytes:
    """A microscope camera's 12-bit capture in 16-bit grey, its description naming it."""
    image = (pyvips.Image.xyz(64, 48)[0] * 60).cast("ushort")
    image = image.copy(interpretation="grey16")
    image.set_type(pyvips.GValue.gstr_type, "image-description", CAMERA_MARK.decode())
    data = image.tiffsave_buffer()
    assert isinstance(data, bytes) and CAMERA_MARK in data
    return data


@pytest.mark.parametrize(
    ("name", "make", "received_type"),
    [("capture.png", _png_with_text, "image/png"), ("camera.tif", _camera_tiff, "image/tiff")],
)
def test_camera_images_keep_no_metadata(
    client: TestClient,
    world: World,
    settings: Settings,
    name: str,
    make: Callable[[], bytes],
    received_type: str,
) -> None:
    case = create_case(client, world)
    response = attach(client, world, "tech_north", case["id"], name, make())
    assert response.status_code == 201, response.text
    [item] = attachments(client, world, "tech_north", case["id"]).json()["items"]
    assert item["kind"] == "image" and item["received_type"] == received_type
    for path in every_file(settings.data_dir):
        content = path.read_bytes()
        assert GPS_MARK not in content and CAMERA_MARK not in content, path
