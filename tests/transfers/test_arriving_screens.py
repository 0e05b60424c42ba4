"""What the case screens and slide cards read of a slide still arriving: a case snapshot on
each whole percent of its bytes and when its transfer ends (the worklist's "arriving 37 %"
moves, and stops), and a thumbnail that waits for the structure (409, not a crash) and is
not kept by the browser while it is made from what has arrived."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from benchmarks.synthetic_slide import SyntheticSlideSpec, build_slide
from tests.cases.conftest import REQUEST
from tests.conftest import World
from tests.transfers.test_arriving import Sending


@pytest.fixture(scope="module")
def frozen(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("arriving-screens")
    spec = SyntheticSlideSpec(width=6000, height=4500, seed=9, levels=(1, 4, 16), bigtiff=False)
    return build_slide(folder / "frozen.svs", spec)


def test_the_case_hears_each_percent_and_the_end(
    app: Any, client: TestClient, world: World, frozen: Path
) -> None:
    from tests.browser import serve_asgi
    from tests.cases.sse import SSE

    case = client.post("/api/cases", json=REQUEST, headers=world.auth("tech_north")).json()
    sending = Sending(client, world, frozen, case=case["id"])
    with serve_asgi(app) as base:
        stream = SSE(base, f"/api/cases/{case['id']}/events", world.auth("path_north"))
        try:
            stream.next("ready")
            sending.send_kind("structure", "associated")
            sending.send_level(2)
            sending.send_level(1)
            shares = []
            while not shares or shares[-1] < 0.05:
                state = stream.next("case", timeout=30).data["case"]["slide_state"]
                assert state["arriving"] == 1
                shares.append(state["received"])
            # One frame a percent (and one per change of the case's own status).
            assert shares == sorted(shares) and len(set(shares)) >= 3
            sending.rest()
            while (state := stream.next("case", timeout=30).data["case"]["slide_state"])[
                "arriving"
            ]:
                assert state["received"] >= shares[-1]
            assert state["received"] is None and state["viewable"] == 1
        finally:
            stream.close()


def test_a_thumbnail_waits_for_the_structure(
    client: TestClient, world: World, frozen: Path
) -> None:
    sending = Sending(client, world, frozen)
    url = f"/api/slides/{sending.slide_id}/thumbnail"
    headers = world.auth("path_north")
    early = client.get(url, headers=headers)
    assert early.status_code == 409 and "structure" in early.json()["detail"]
    sending.send_kind("structure")
    sending.send_level(2)
    interim = client.get(url, headers=headers)
    assert interim.status_code == 200 and interim.headers["cache-control"] == "no-store"
    sending.rest()
    whole = client.get(url, headers=headers)
    assert whole.status_code == 200 and whole.headers["cache-control"].startswith("private")
