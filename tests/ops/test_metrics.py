"""`/metrics`: who may read it, and that it counts what happens (tiles, cases, jobs).

The instruments are per process (the test process here), so each test compares a
scrape after with one before; the database gauges are read at scrape time.
"""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from tests.cases.conftest import create_case
from tests.conftest import World
from tiler.deepzoom import DeepZoomGrid

GRID = DeepZoomGrid(2220, 2967)  # CMU-1-Small-Region.svs


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape, by name and labels."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def scrape(
    client: TestClient, world: World
) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics", headers=world.auth("admin"))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    return samples(response.text)


def test_admins_only(client: TestClient, world: World) -> None:
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers=world.auth("path_north")).status_code == 403
    assert client.get("/metrics", headers=world.auth("admin")).status_code == 200


def test_tiles_are_timed_by_source(
    client: TestClient, world: World, north_slide: dict[str, Any]
) -> None:
    count = ("slidebridge_tile_seconds_count", (("source", "on_the_fly"),))
    not_modified = ("slidebridge_tile_seconds_count", (("source", "not_modified"),))
    before = scrape(client, world)
    url = f"/dzi/{north_slide['id']}_files/{GRID.level_count - 1}/0_0.jpeg"
    first = client.get(url, headers=world.auth("path_north"))
    assert first.status_code == 200
    again = client.get(
        url, headers={**world.auth("path_north"), "If-None-Match": first.headers["etag"]}
    )
    assert again.status_code == 304
    after = scrape(client, world)
    assert after[count] == before.get(count, 0) + 1
    assert after[not_modified] == before.get(not_modified, 0) + 1


def test_database_gauges(client: TestClient, world: World, north_slide: dict[str, Any]) -> None:
    create_case(client, world)
    create_case(client, world, type="routine")
    found = scrape(client, world)
    assert found[("slidebridge_frozen_sections_open", (("site", "NORTH"),))] == 1
    assert found[("slidebridge_frozen_sections_open", (("site", "SOUTH"),))] == 0
    assert found[("slidebridge_frozen_section_oldest_open_seconds", (("site", "NORTH"),))] >= 0
    assert found[("slidebridge_frozen_section_oldest_open_seconds", (("site", "SOUTH"),))] == 0
    # The uploaded slide's pyramid job waits (no workers run in this app).
    assert found[("slidebridge_jobs", (("state", "queued"),))] == 1
    assert found[("slidebridge_job_oldest_queued_seconds", ())] >= 0
    assert found[("slidebridge_transfers_active", (("protocol", "tus"),))] == 0
    assert ("slidebridge_open_streams", ()) in found
