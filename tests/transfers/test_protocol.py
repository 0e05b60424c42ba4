"""The progressive-transfer protocol against the real app and database (both backends):
ranges in any order arrive byte-identical, hostile ranges write nothing, the slide
exists from the first request and becomes an ordinary slide at the end."""

from __future__ import annotations

import base64
import hashlib
import random
import uuid
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.core.config import Settings
from app.core.storage import content_path
from app.services.transfers.store import part_path
from tests.conftest import SLIDES, SMALL_SVS, World
from tests.tiler.test_layout_hostile import staged_tiff
from tiler.byte_layout import file_layout

DATA = SMALL_SVS.read_bytes()
SHA = hashlib.sha256(DATA).hexdigest()


def digest(body: bytes) -> str:
    return f"sha-256=:{base64.b64encode(hashlib.sha256(body).digest()).decode()}:"


def declare(client: TestClient, world: World, user: str = "tech_north", **extra: Any) -> Any:
    body = {"filename": SMALL_SVS.name, "size": len(DATA), "sha256": SHA, **extra}
    return client.post("/api/transfers", json=body, headers=world.auth(user))


def put(
    client: TestClient,
    world: World,
    transfer: str,
    start: int,
    body: bytes,
    *,
    user: str = "tech_north",
    sent_digest: str | None = None,
) -> Any:
    headers = {**world.auth(user), "Content-Digest": sent_digest or digest(body)}
    return client.put(f"/api/transfers/{transfer}/ranges/{start}", content=body, headers=headers)


def ranges_of(path: Path, most: int = 64 * 1024) -> list[tuple[int, int]]:
    """The file's layout ranges, long ones cut to `most` bytes: what an agent sends."""
    spans = []
    for item in file_layout(path).ranges:
        for start in range(item.start, item.end, most):
            spans.append((start, min(item.end, start + most)))
    return spans


def test_ranges_in_any_order_arrive_byte_identical(
    client: TestClient, world: World, settings: Settings
) -> None:
    created = declare(client, world)
    assert created.status_code == 201, created.text
    transfer = created.json()
    slide_id = transfer["slide_id"]
    slide = client.get(f"/api/slides/{slide_id}", headers=world.auth("path_north")).json()
    assert slide["status"] == "arriving" and slide["received"] == 0.0

    spans = ranges_of(SMALL_SVS)
    random.Random(5).shuffle(spans)
    for start, end in spans[:-1]:
        answer = put(client, world, transfer["id"], start, DATA[start:end])
        assert answer.status_code == 201, answer.text
        assert answer.json()["status"] == "receiving"
    slide = client.get(f"/api/slides/{slide_id}", headers=world.auth("path_north")).json()
    assert slide["status"] == "arriving" and 0.5 < slide["received"] < 1.0

    start, end = spans[-1]
    last = put(client, world, transfer["id"], start, DATA[start:end])
    assert last.status_code == 201, last.text
    assert last.json()["status"] == "completed"
    slide = client.get(f"/api/slides/{slide_id}", headers=world.auth("path_north")).json()
    assert slide["status"] in {"queued", "tiling", "ready"} and slide["received"] == 1.0
    assert (slide["width"], slide["height"]) == (2220, 2967) and slide["vendor"] == "aperio"
    stored = settings.data_dir / content_path(SHA, ".svs")
    assert stored.read_bytes() == DATA
    assert not part_path(settings.data_dir, uuid.UUID(transfer["id"])).exists()


def test_a_resend_is_recognised_and_hostile_ranges_write_nothing(
    client: TestClient, world: World
) -> None:
    transfer = declare(client, world).json()["id"]
    piece = DATA[1000:5000]
    assert put(client, world, transfer, 1000, piece).status_code == 201
    again = put(client, world, transfer, 1000, piece)
    assert again.status_code == 200  # the answer was lost, the agent asks again
    assert again.json()["received_bytes"] == 4000
    inside = put(client, world, transfer, 2000, DATA[2000:3000])
    assert inside.status_code == 200  # wholly inside received bytes, the same bytes
    other = put(client, world, transfer, 2000, b"x" * 1000)
    assert other.status_code == 409  # other bytes where bytes are: refused
    overlap = put(client, world, transfer, 4000, DATA[4000:6000])
    assert overlap.status_code == 409
    assert overlap.headers["connection"] == "close"
    outside = put(client, world, transfer, len(DATA) - 10, DATA[-10:] + b"extra")
    assert outside.status_code == 416
    wrong = put(client, world, transfer, 6000, DATA[6000:7000], sent_digest=digest(b"nope"))
    assert wrong.status_code == 422
    missing = client.put(
        f"/api/transfers/{transfer}/ranges/6000",
        content=DATA[6000:7000],
        headers=world.auth("tech_north"),
    )
    assert missing.status_code == 422 and "Content-Digest" in missing.json()["detail"]
    state = client.get(f"/api/transfers/{transfer}", headers=world.auth("tech_north")).json()
    assert state["ranges"] == [[1000, 5000]] and state["received_bytes"] == 4000


def test_an_agent_that_restarted_resumes_the_same_transfer(
    client: TestClient, world: World
) -> None:
    first = declare(client, world).json()
    put(client, world, first["id"], 0, DATA[:100])
    again = declare(client, world)
    assert again.status_code == 200
    assert again.json()["id"] == first["id"] and again.json()["ranges"] == [[0, 100]]


def test_the_same_file_already_here_needs_nothing_sent(client: TestClient, world: World) -> None:
    posted = client.post(
        "/api/slides",
        headers=world.auth("tech_north"),
        files={"file": (SMALL_SVS.name, DATA)},
    )
    assert posted.status_code == 201
    answer = declare(client, world)
    assert answer.status_code == 200
    assert answer.json()["status"] == "completed"
    assert answer.json()["slide_id"] == posted.json()["id"]


def test_a_wrong_whole_file_hash_fails_the_slide_and_a_new_transfer_resets_it(
    client: TestClient, world: World
) -> None:
    lying = declare(client, world, sha256="0" * 64).json()
    put(client, world, lying["id"], 0, DATA[: len(DATA) // 2])
    last = put(client, world, lying["id"], len(DATA) // 2, DATA[len(DATA) // 2 :])
    assert last.status_code == 422
    assert "SHA-256" in last.json()["detail"]
    slide = client.get(f"/api/slides/{lying['slide_id']}", headers=world.auth("tech_north"))
    assert slide.json()["status"] == "failed" and "SHA-256" in slide.json()["error"]
    gone = put(client, world, lying["id"], 0, DATA[:10])
    assert gone.status_code == 410
    retry = declare(client, world, sha256="0" * 64)
    assert retry.status_code == 201
    assert retry.json()["slide_id"] == lying["slide_id"] and retry.json()["id"] != lying["id"]


def test_site_rules_and_refusals(client: TestClient, world: World) -> None:
    transfer = declare(client, world).json()
    assert (
        client.get(f"/api/transfers/{transfer['id']}", headers=world.auth("tech_south")).status_code
        == 404
    )
    assert put(client, world, transfer["id"], 0, DATA[:10], user="tech_south").status_code == 404
    assert (
        client.get(
            f"/api/slides/{transfer['slide_id']}", headers=world.auth("path_south")
        ).status_code
        == 404
    )
    assert declare(client, world, "surgeon_north").status_code == 403
    assert declare(client, world, site="SOUTH").status_code == 422  # a site you cannot see
    south_case = client.post(
        "/api/cases",
        headers=world.auth("tech_south"),
        json={"patient_mrn": "S1", "patient_name": "P", "specimen_site": "x",
              "clinical_question": "q"},
    ).json()  # fmt: skip
    refused = declare(client, world, case=south_case["id"])
    assert refused.status_code == 422 and "no such case" in refused.json()["detail"]
    assert client.post(
        "/api/transfers", json={"filename": "x", "size": 10, "sha256": "nothex"},
        headers=world.auth("tech_north"),
    ).status_code == 422  # fmt: skip


def test_the_slide_is_described_as_soon_as_its_structure_arrives(
    client: TestClient, world: World
) -> None:
    transfer = declare(client, world).json()
    structure = [r for r in file_layout(SMALL_SVS).ranges if r.kind == "structure"]
    for item in structure:
        assert put(
            client, world, transfer["id"], item.start, DATA[item.start : item.end]
        ).is_success
    slide = client.get(f"/api/slides/{transfer['slide_id']}", headers=world.auth("tech_north"))
    body = slide.json()
    assert body["status"] == "arriving"
    assert (body["width"], body["height"], body["vendor"]) == (2220, 2967, "aperio")
    assert body["mpp_x"] == pytest.approx(0.499) and body["levels"][0]["width"] == 2220
    assert body["received"] < 0.05


def test_a_structure_the_engine_refuses_ends_the_transfer_at_once(
    client: TestClient, world: World, settings: Settings
) -> None:
    broken = (SLIDES / "broken" / "unopenable.tiff").read_bytes()
    declared = {"filename": "unopenable.tiff", "size": len(broken),
                "sha256": hashlib.sha256(broken).hexdigest()}  # fmt: skip
    transfer = client.post("/api/transfers", json=declared, headers=world.auth("tech_north"))
    transfer_id = transfer.json()["id"]
    refused = put(client, world, transfer_id, 0, broken)
    assert refused.status_code == 422, refused.text
    assert "compression" in refused.json()["detail"].lower()
    state = client.get(f"/api/transfers/{transfer_id}", headers=world.auth("tech_north")).json()
    assert state["status"] == "failed"
    assert not part_path(settings.data_dir, uuid.UUID(transfer_id)).exists()
    slide = client.get(
        f"/api/slides/{transfer.json()['slide_id']}", headers=world.auth("tech_north")
    )
    assert slide.json()["status"] == "failed"


def test_a_tile_table_the_engine_refuses_ends_the_transfer_when_it_arrives(
    client: TestClient, world: World, settings: Settings
) -> None:
    """The slide is described from its directories; its tile table, arriving later and
    pointing beyond the file, fails the transfer at once, as a broken structure does."""
    data, (start, end) = staged_tiff(offsets=(300, 1 << 30))
    declared = {"filename": "late.tiff", "size": len(data),
                "sha256": hashlib.sha256(data).hexdigest()}  # fmt: skip
    transfer = client.post("/api/transfers", json=declared, headers=world.auth("tech_north"))
    transfer_id, slide_id = transfer.json()["id"], transfer.json()["slide_id"]
    assert put(client, world, transfer_id, 0, data[:start]).status_code == 201
    slide = client.get(f"/api/slides/{slide_id}", headers=world.auth("tech_north")).json()
    assert (slide["status"], slide["width"]) == ("arriving", 128)
    refused = put(client, world, transfer_id, start, data[start:end])
    assert refused.status_code == 422, refused.text
    assert "beyond the file's end" in refused.json()["detail"]
    state = client.get(f"/api/transfers/{transfer_id}", headers=world.auth("tech_north")).json()
    assert state["status"] == "failed"
    assert not part_path(settings.data_dir, uuid.UUID(transfer_id)).exists()
