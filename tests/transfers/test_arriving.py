"""A slide served while its bytes arrive, through the real app and database (both
backends): interim tiles never cached and never an error, the viewer's requests move
their ranges to the front, final tiles equal the finished slide's, live arrival
events, IIIF and the navigator's map from what has arrived, the case clock."""

from __future__ import annotations

import base64
import bisect
import hashlib
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from app.agent.plan import pieces, send_order
from app.core.config import Settings
from benchmarks.synthetic_slide import SyntheticSlideSpec, build_slide
from tests.conftest import World
from tests.transfers.test_protocol import digest
from tiler.byte_layout import ByteRange, FileLayout, file_layout
from tiler.cache import SlideCache
from tiler.deepzoom import DeepZoomGrid, TileOptions
from tiler.received import ReceivedRanges


@pytest.fixture(scope="module")
def aperio(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An Aperio-like slide with levels at 1x, 4x and 16x, as frozen sections come."""
    folder = tmp_path_factory.mktemp("arriving")
    spec = SyntheticSlideSpec(width=6000, height=4500, seed=9, levels=(1, 4, 16), bigtiff=False)
    return build_slide(folder / "frozen.svs", spec)


class Sending:
    """An agent's side, by hand: declare the file, then send chosen ranges."""

    def __init__(self, client: TestClient, world: World, path: Path, **extra: Any) -> None:
        self.client, self.world, self.path = client, world, path
        self.data = path.read_bytes()
        self.layout = file_layout(path)
        body = {"filename": path.name, "size": len(self.data),
                "sha256": hashlib.sha256(self.data).hexdigest(), **extra}  # fmt: skip
        answer = client.post("/api/transfers", json=body, headers=world.auth("tech_north"))
        assert answer.status_code == 201, answer.text
        self.transfer = answer.json()
        self.slide_id = self.transfer["slide_id"]
        self.sent: set[tuple[int, int]] = set()

    def send(self, start: int, end: int) -> dict[str, Any]:
        body = self.data[start:end]
        answer = self.client.put(
            f"/api/transfers/{self.transfer['id']}/ranges/{start}",
            content=body,
            headers={**self.world.auth("tech_north"), "Content-Digest": digest(body)},
        )
        assert answer.status_code in (200, 201), answer.text
        self.sent.add((start, end))
        result: dict[str, Any] = answer.json()
        return result

    def send_kind(self, *kinds: str) -> None:
        for item in self.layout.ranges:
            if item.kind in kinds and (item.start, item.end) not in self.sent:
                self.send(item.start, item.end)

    def send_first_structure(self) -> None:
        """The structure every reader needs: not the levels' tile tables."""
        for item in self.layout.ranges:
            if item.kind == "structure" and not item.needed_by:
                self.send(item.start, item.end)

    def send_table(self, level: int) -> None:
        """What the agent sends right before the level's tiles: the tile-table ranges
        whose coarsest reader is this level."""
        for item in self.layout.ranges:
            if item.needed_by and max(item.needed_by) == level:
                self.send(item.start, item.end)

    def send_level(self, level: int) -> None:
        for item in self.layout.ranges:
            ours = item.kind == "tile" and any(key.level == level for key in item.tiles)
            if ours and (item.start, item.end) not in self.sent:
                self.send(item.start, item.end)

    def rest(self) -> dict[str, Any]:
        """Everything not sent yet, in pieces of up to 1 MiB (as the agent joins them)."""
        state = self.client.get(
            f"/api/transfers/{self.transfer['id']}", headers=self.world.auth("tech_north")
        ).json()
        received = ReceivedRanges.from_pairs(len(self.data), state["ranges"])
        answer: dict[str, Any] = {}
        for start, end in pieces(received.missing(), 1 << 20):
            answer = self.send(start, end)
        return answer

    def tile(self, z: int, col: int, row: int) -> Any:
        return self.client.get(
            f"/dzi/{self.slide_id}_files/{z}/{col}_{row}.jpeg",
            headers=self.world.auth("path_north"),
        )


def finished_tile(path: Path, z: int, col: int, row: int) -> bytes:
    return SlideCache().tiles(path, TileOptions()).tile(z, col, row)


def test_interim_then_final_and_equal_to_the_finished_slide(
    client: TestClient, world: World, aperio: Path
) -> None:
    sending = Sending(client, world, aperio)
    headers = world.auth("path_north")
    early = client.get(f"/dzi/{sending.slide_id}.dzi", headers=headers)
    assert early.status_code == 409  # no structure yet: the viewer waits a moment
    sending.send_kind("structure")
    dzi = client.get(f"/dzi/{sending.slide_id}.dzi", headers=headers)
    assert dzi.status_code == 200 and 'Width="6000"' in dzi.text
    z_max = 13  # ceil(log2(6000)) levels above 1x1
    interim = sending.tile(z_max, 3, 2)
    assert interim.status_code == 200 and interim.content.startswith(b"\xff\xd8")
    assert interim.headers["slidebridge-tile"] == "interim"
    assert interim.headers["cache-control"] == "no-store" and "etag" not in interim.headers
    # The viewer's request is the priority signal: the agent is told what the tile needs.
    state = client.get(
        f"/api/transfers/{sending.transfer['id']}", headers=world.auth("tech_north")
    ).json()
    wanted = state["wanted"]
    assert wanted, state
    for start, end in wanted:  # as the agent does: exactly what the hub asked for
        sending.send(start, end)
    final = sending.tile(z_max, 3, 2)
    assert final.headers["slidebridge-tile"] == "final"
    assert final.content == finished_tile(aperio, z_max, 3, 2)
    # Coarse levels: final once their level's tiles are in.
    sending.send_level(2)
    overview = sending.tile(3, 0, 0)
    assert overview.headers["slidebridge-tile"] == "final"
    assert overview.content == finished_tile(aperio, 3, 0, 0)
    # Every tile answers, interim or final, whatever has arrived.
    rng = random.Random(3)
    grid = DeepZoomGrid(6000, 4500)
    for z in range(z_max + 1):
        cols, rows = grid.tile_counts(z)
        answer = sending.tile(z, rng.randrange(cols), rng.randrange(rows))
        assert answer.status_code == 200
        assert answer.headers["slidebridge-tile"] in {"final", "interim"}
    done = sending.rest()
    assert done["status"] == "completed"
    after = sending.tile(z_max, 3, 2)
    assert after.headers["slidebridge-tile"] == "final"
    assert after.content == final.content


def test_the_navigator_map_and_iiif_from_what_has_arrived(
    client: TestClient, world: World, aperio: Path
) -> None:
    sending = Sending(client, world, aperio)
    headers = world.auth("path_north")
    sending.send_kind("structure")
    sending.send_level(2)
    first = next(
        item for item in sending.layout.ranges
        if item.kind == "tile" and item.tiles[0].level == 0
    )  # fmt: skip
    sending.send(first.start, first.end)
    arrival = client.get(f"/api/slides/{sending.slide_id}/arrival", headers=headers).json()
    assert arrival["status"] == "arriving" and 0 < arrival["received"] < 1
    cols, rows = arrival["cols"], arrival["rows"]
    flags = np.unpackbits(np.frombuffer(base64.b64decode(arrival["arrived"]), np.uint8))
    flags = flags[: cols * rows].reshape(rows, cols)
    key = first.tiles[0]
    assert flags[key.t_row, key.t_col] and flags.sum() == len(
        [k for k in first.tiles if k.level == 0]
    )
    info = client.get(f"/iiif/3/{sending.slide_id}/info.json", headers=headers)
    assert info.status_code == 200 and info.json()["width"] == 6000
    image = client.get(f"/iiif/3/{sending.slide_id}/full/400,/0/default.jpg", headers=headers)
    assert image.status_code == 200 and image.content.startswith(b"\xff\xd8")
    thumbnail = client.get(f"/api/slides/{sending.slide_id}/thumbnail", headers=headers)
    assert thumbnail.status_code == 200


def test_arrival_events_reach_the_slides_viewers(
    app: Any, client: TestClient, world: World, aperio: Path
) -> None:
    from tests.browser import serve_asgi
    from tests.cases.sse import SSE

    sending = Sending(client, world, aperio)
    sending.send_kind("structure")
    with serve_asgi(app) as base:
        stream = SSE(base, f"/api/slides/{sending.slide_id}/events", world.auth("path_north"))
        try:
            stream.next("ready")
            sending.send_level(2)
            event = stream.next("arrival")
            assert event.data["status"] == "arriving" and event.data["areas"]
            assert {"z_low", "x", "y", "width", "height"} <= set(event.data["areas"][0])
            sending.rest()
            while (done := stream.next("arrival", timeout=30)).data["status"] != "queued":
                assert done.data["status"] == "arriving"
            assert done.data["received"] == 1.0
        finally:
            stream.close()


def test_a_case_is_ready_once_its_slides_overview_is_in(
    client: TestClient, world: World, aperio: Path, settings: Settings
) -> None:
    case = client.post(
        "/api/cases",
        headers=world.auth("tech_north"),
        json={"patient_mrn": "M1", "patient_name": "P", "specimen_site": "breast",
              "clinical_question": "margin?"},
    ).json()  # fmt: skip
    sending = Sending(client, world, aperio, case=case["id"])
    body = client.get(f"/api/cases/{case['id']}", headers=world.auth("path_north")).json()
    assert body["slides"] == [sending.slide_id]
    assert body["status"] == "slides_uploading"
    assert body["slide_state"]["arriving"] == 1 and body["slide_state"]["overview_pending"] == 1
    sending.send_kind("structure", "associated")
    for level in (2, 1):
        sending.send_level(level)
    from app.services.cases.ingest import reconcile

    reconcile(client.app.state.db, client.app.state.live)  # type: ignore[attr-defined]
    body = client.get(f"/api/cases/{case['id']}", headers=world.auth("path_north")).json()
    assert body["status"] == "ready", body["slide_state"]
    assert body["slide_state"]["overview_pending"] == 0
    assert 0 < body["slide_state"]["received"] < 1  # "arriving 37 %"
    claimed = client.post(f"/api/cases/{case['id']}/claim", headers=world.auth("path_north"))
    assert claimed.status_code == 200


def test_described_and_overview_final_before_the_full_resolutions_table(
    client: TestClient, world: World, aperio: Path
) -> None:
    """The structure every reader needs describes the slide; the coarse levels with their
    tables make the overview final while the full resolution's tile offsets (most of
    the structure) have not crossed; a viewer looking at full resolution pulls that
    table first, then the tiles' bytes."""
    sending = Sending(client, world, aperio)
    headers = world.auth("path_north")
    full_table = [item for item in sending.layout.ranges if item.needed_by == (0,)]
    assert full_table  # the level-0 offsets: level 0 alone needs them
    sending.send_first_structure()
    slide = client.get(f"/api/slides/{sending.slide_id}", headers=headers).json()
    assert (slide["width"], slide["height"], slide["status"]) == (6000, 4500, "arriving")
    assert len(slide["levels"]) == 3 and slide["mpp_x"] == pytest.approx(0.499)
    dzi = client.get(f"/dzi/{sending.slide_id}.dzi", headers=headers)
    assert dzi.status_code == 200 and 'Width="6000"' in dzi.text
    assert sending.tile(3, 0, 0).headers["slidebridge-tile"] == "interim"  # glass yet
    arrival = client.get(f"/api/slides/{sending.slide_id}/arrival", headers=headers).json()
    assert arrival["cols"] == 25 and not any(base64.b64decode(arrival["arrived"]))
    sending.send_kind("associated")
    for level in (2, 1):
        sending.send_table(level)
        sending.send_level(level)
    for z in range(0, 12):  # to 1/4 of full resolution: levels 2 and 1
        cols, rows = DeepZoomGrid(6000, 4500).tile_counts(z)
        for col, row in {(0, 0), (cols - 1, rows - 1), (cols // 2, rows // 2)}:
            tile = sending.tile(z, col, row)
            assert tile.headers["slidebridge-tile"] == "final", (z, col, row)
            assert tile.content == finished_tile(aperio, z, col, row)
    state = client.get(
        f"/api/transfers/{sending.transfer['id']}", headers=world.auth("tech_north")
    ).json()
    assert state["overview_at"] is not None  # the case could be claimed now
    received = ReceivedRanges.from_pairs(state["size"], state["ranges"])
    assert not any(received.covers(item.start, item.end) for item in full_table)
    assert state["received"] < 0.5
    # Full resolution: its table first, then (asked again) the tiles' bytes.
    assert sending.tile(13, 3, 2).headers["slidebridge-tile"] == "interim"
    wanted = client.get(
        f"/api/transfers/{sending.transfer['id']}", headers=world.auth("tech_north")
    ).json()["wanted"]
    assert [tuple(span) for span in wanted] == [(r.start, r.end) for r in full_table]
    for start, end in wanted:
        sending.send(start, end)
    assert sending.tile(13, 3, 2).headers["slidebridge-tile"] == "interim"
    wanted = client.get(
        f"/api/transfers/{sending.transfer['id']}", headers=world.auth("tech_north")
    ).json()["wanted"]
    level_0 = [
        (item.start, item.end) for item in sending.layout.ranges
        if item.kind == "tile" and item.tiles[0].level == 0
    ]  # fmt: skip
    assert wanted and all(  # the bytes of full-resolution tiles, the table in
        all(span in level_0 for span in layout_spans(sending.layout, start, end))
        for start, end in wanted
    )
    for start, end in wanted:
        sending.send(start, end)
    final = sending.tile(13, 3, 2)
    assert final.headers["slidebridge-tile"] == "final"
    assert final.content == finished_tile(aperio, 13, 3, 2)


def layout_spans(layout: FileLayout, start: int, end: int) -> list[tuple[int, int]]:
    return [(r.start, r.end) for r in layout.ranges if start <= r.start and r.end <= end]


def test_the_plan_sends_each_levels_table_right_before_its_tiles(aperio: Path) -> None:
    """The structure every reader needs, the associated images, then level by level from
    the coarsest: the ranges of its tile table, then its tiles."""
    layout = file_layout(aperio)
    order = send_order(layout)
    placed = sorted((start, end, index) for index, (start, end) in enumerate(order))
    starts = [start for start, _, _ in placed]

    def position(r: ByteRange) -> int:
        start, end, index = placed[bisect.bisect_right(starts, r.start) - 1]
        assert start <= r.start < end  # (a long range is cut: its first piece)
        return index

    def stage(r: ByteRange) -> tuple[int, int]:
        coarsest = len(layout.levels)
        if r.kind == "structure" and not r.needed_by:
            return (0, 0)
        if r.kind == "associated":
            return (1, 0)
        if r.kind == "structure":  # a tile table, before its coarsest reader's tiles
            return (2 + coarsest - max(r.needed_by), 0)
        if r.kind == "tile":
            return (2 + coarsest - min(t.level for t in r.tiles), 1)
        return (9, 0)

    ranked = sorted(layout.ranges, key=position)
    stages = [stage(r) for r in ranked]
    assert stages == sorted(stages)
    assert {stage(r) for r in layout.ranges if r.needed_by} == {
        (2 + 3 - level, 0) for level in (0, 1, 2)
    }
