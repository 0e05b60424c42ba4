"""Two real `slidebridge serve` processes on one data directory, sharing
PROMETHEUS_MULTIPROC_DIR: either answers /metrics for both, and a process killed
with kill -9 stops counting its open streams at the next scrape."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import PASSWORD
from tests.hub_process import HubProcess, _free_port
from tests.ops.test_metrics import samples

OPEN = ("slidebridge_open_streams", ())


@pytest.fixture
def two_hubs(tmp_path: Path) -> Iterator[tuple[HubProcess, HubProcess, str]]:
    shared = tmp_path / "prometheus"
    shared.mkdir()
    first, second = HubProcess(tmp_path / "data"), HubProcess(tmp_path / "data")
    scraper = f"127.0.0.1:{_free_port()}"
    first.env["SLIDEBRIDGE_METRICS_ADDRESS"] = scraper
    for hub in (first, second):
        hub.env["PROMETHEUS_MULTIPROC_DIR"] = str(shared)
    first.run("user", "add", "admin", "--role", "admin", "--password-stdin",
              stdin=PASSWORD + "\n")  # fmt: skip
    first.start()
    second.start()
    yield first, second, scraper
    for hub in (first, second):
        if hub.process is not None and hub.process.poll() is None:
            hub.process.terminate()
            hub.process.wait(30)


def token(hub: HubProcess) -> dict[str, str]:
    response = httpx.post(
        f"{hub.base}/api/auth/token", data={"username": "admin", "password": PASSWORD}
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def scrape(
    hub: HubProcess, auth: dict[str, str]
) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = httpx.get(f"{hub.base}/metrics", headers=auth, timeout=30)
    assert response.status_code == 200, response.text
    return samples(response.text)


def test_one_scrape_counts_every_process(two_hubs: tuple[HubProcess, HubProcess, str]) -> None:
    first, second, scraper = two_hubs
    for hub in (first, second):  # on the service's address: admins only
        assert httpx.get(f"{hub.base}/metrics").status_code == 401
        ready = httpx.get(f"{hub.base}/readyz", timeout=30)
        assert ready.status_code == 200 and ready.json()["checks"]["queue"] == "ok"
    auth = token(first)
    assert scrape(second, auth)[OPEN] == 0
    with httpx.stream("GET", f"{first.base}/api/cases/events", headers=auth, timeout=30) as stream:
        assert stream.status_code == 200
        lines = stream.iter_lines()
        while next(lines) != "event: ready":
            pass
        # Opened on the first process, counted by the second.
        assert scrape(second, auth)[OPEN] == 1
        # The scraper's own address needs no credential and sees the same.
        found = samples(httpx.get(f"http://{scraper}/metrics", timeout=30).text)
        assert found[OPEN] == 1 and ("slidebridge_jobs", (("state", "queued"),)) in found
        first.kill()
    assert scrape(second, auth)[OPEN] == 0
