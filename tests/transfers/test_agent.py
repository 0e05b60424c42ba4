"""The scanner-side agent against a real hub over real HTTP: cuts, kill -9 of the agent and
of the hub, files that go in byte order, and `slidebridge send` as a program."""

from __future__ import annotations

import hashlib
import itertools
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from app.agent.send import ProgressiveSender, progressive_plan
from app.core.storage import content_path
from benchmarks.shaped_link import CuttingProxy
from tests.conftest import BOXES_TIFF, SMALL_SVS, World
from tests.hub_process import SLIDEBRIDGE, HubProcess, token_of

DATA = SMALL_SVS.read_bytes()
SHA = hashlib.sha256(DATA).hexdigest()


def _port(base: str) -> int:
    return int(base.rsplit(":", 1)[1])


def wait_for(base: str, headers: dict[str, str], slide_id: str, status: str) -> dict[str, str]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        slide: dict[str, str] = httpx.get(f"{base}/api/slides/{slide_id}", headers=headers).json()
        if slide["status"] == status:
            return slide
        time.sleep(0.2)
    raise AssertionError(f"slide {slide_id} never became {status}: {slide}")


def test_the_plan_sends_structure_first_and_every_byte_once() -> None:
    plan = progressive_plan(SMALL_SVS, piece_bytes=64 * 1024)
    covered = sorted(plan)
    assert covered[0][0] == 0 and covered[-1][1] == len(DATA)
    assert all(a[1] == b[0] for a, b in itertools.pairwise(covered))
    assert all(end - start <= 64 * 1024 for start, end in plan)
    assert plan[0][0] == 0  # the TIFF header and first directory lead


def test_a_cutting_link_costs_at_most_the_ranges_in_flight(
    live: str, world: World, settings: object, tmp_path: Path
) -> None:
    proxy = CuttingProxy(_port(live), cuts=5, cut_range=(20_000, 300_000), seed=11)
    with proxy.running() as via:
        sender = ProgressiveSender(
            via, world.tokens["tech_north"], piece_bytes=64 * 1024, sleep=lambda _s: None
        )
        sent = sender.send(SMALL_SVS)
    assert proxy.cuts_done >= 5  # two connections may each be given the last cut
    # A cut costs the ranges in flight on that connection, never the whole file.
    assert len(DATA) <= sender.body_bytes <= len(DATA) + proxy.cuts_done * 64 * 1024
    headers = world.auth("path_north")
    slide = wait_for(live, headers, sent.slide_id, "ready")
    assert slide["sha256"] == SHA
    data_dir = Path(str(getattr(settings, "data_dir")))  # noqa: B009
    assert (data_dir / content_path(SHA, ".svs")).read_bytes() == DATA
    dzi = httpx.get(f"{live}/dzi/{sent.slide_id}.dzi", headers=headers)
    assert dzi.status_code == 200


def test_a_file_the_hub_reads_only_whole_goes_in_byte_order(
    live: str, world: World, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "SLIDEBRIDGE_TOKEN": world.tokens["tech_north"],
        "SLIDEBRIDGE_LANGUAGE": "en",
    }
    done = subprocess.run(
        [str(SLIDEBRIDGE), "send", str(BOXES_TIFF), str(SMALL_SVS), "--server", live,
         "--state-dir", str(tmp_path / "state")],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "boxes.tiff" in done.stdout and "byte order" in done.stdout
    assert "CMU-1-Small-Region.svs" in done.stdout and "progressive" in done.stdout


def _received(database: Path) -> int:
    with sqlite3.connect(database) as connection:
        row = connection.execute("SELECT received_bytes FROM transfer").fetchone()
    return int(row[0]) if row else 0


def test_kill_9_of_the_agent_and_of_the_hub_loses_nothing(
    hub_process: HubProcess, tmp_path: Path
) -> None:
    hub = hub_process
    token = token_of(hub)
    database = Path(hub.env["SLIDEBRIDGE_DATA_DIR"]) / "slidebridge.db"
    # A slow link (200 kB/s): the 1.9 MB slide takes about ten seconds.
    proxy = CuttingProxy(hub.port, cuts=0, cut_range=(1, 1), rate_bytes_per_s=200_000)
    env = {**os.environ, "SLIDEBRIDGE_TOKEN": token, "SLIDEBRIDGE_LANGUAGE": "en"}
    with proxy.running() as via:
        command = [str(SLIDEBRIDGE), "send", str(SMALL_SVS), "--server", via, "--piece-kb", "64",
                   "--state-dir", str(tmp_path / "state")]  # fmt: skip
        agent = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while _received(database) < len(DATA) // 4:
            assert time.monotonic() < deadline and agent.poll() is None
            time.sleep(0.05)
        os.kill(agent.pid, signal.SIGKILL)  # the agent dies mid-transfer
        agent.wait()
        before = _received(database)
        agent = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)
        while _received(database) < len(DATA) // 2:
            assert time.monotonic() < deadline and agent.poll() is None
            time.sleep(0.05)
        hub.kill()  # and the hub dies too, with ranges in flight
        hub.start()
        output, _ = agent.communicate(timeout=120)
    assert agent.returncode == 0, output
    assert "progressive" in output
    # Resumed, not restarted: each kill cost at most the ranges in flight (2 x 64 KiB).
    assert proxy.bytes_up < len(DATA) + 4 * 64 * 1024 + 200_000
    assert before >= len(DATA) // 4
    headers = {"Authorization": f"Bearer {token}"}
    slide_id = output.split("slide ")[1].split()[0]
    slide = wait_for(hub.base, headers, slide_id, "ready")
    assert slide["sha256"] == SHA
    stored = Path(hub.env["SLIDEBRIDGE_DATA_DIR"]) / content_path(SHA, ".svs")
    assert stored.read_bytes() == DATA


@pytest.mark.parametrize("who", ["tech_south"])
def test_another_sites_token_cannot_send_into_this_site(live: str, world: World, who: str) -> None:
    sender = ProgressiveSender(live, world.tokens[who], sleep=lambda _s: None)
    from app.agent.hub import UploadRefusedError

    with pytest.raises(UploadRefusedError) as refused:
        sender.send(SMALL_SVS, site="NORTH")
    assert "site" in refused.value.reason
