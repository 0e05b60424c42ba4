"""`slidebridge serve` killed with SIGKILL in the middle of a PATCH, then restarted:
every byte it had acknowledged is still there, and the client finishes from there."""

from __future__ import annotations

import hashlib
import sqlite3
import sys
import threading
import time
import uuid
from pathlib import Path

import httpx

from app.agent.tus import Sender
from benchmarks.shaped_link import CuttingProxy
from tests.conftest import PASSWORD, SMALL_SVS
from tests.hub_process import HubProcess

SLIDEBRIDGE = Path(sys.executable).parent / "slidebridge"


def test_kill_9_mid_upload_keeps_acknowledged_bytes(
    hub_process: HubProcess, tmp_path: Path
) -> None:
    hub = hub_process
    data = SMALL_SVS.read_bytes()
    token = httpx.post(
        f"{hub.base}/api/auth/token", data={"username": "tech", "password": PASSWORD}
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}", "Tus-Resumable": "1.0.0"}
    # A slow link (400 kB/s) so the single whole-file PATCH is still streaming when killed.
    proxy = CuttingProxy(hub.port, cuts=0, cut_range=(1, 1), rate_bytes_per_s=400_000)
    acknowledged: list[int] = []
    locations: list[str] = []

    database = Path(hub.env["SLIDEBRIDGE_DATA_DIR"]) / "slidebridge.db"

    def killer() -> None:
        # The durable offset is the database's: read it there, as a restart would.
        while True:
            time.sleep(0.05)
            with sqlite3.connect(database) as connection:
                row = connection.execute('SELECT id, "offset" FROM upload').fetchone()
            if row is None or row[1] < 256 * 1024:
                continue
            hub.kill()  # mid-PATCH: the body is still arriving
            acknowledged.append(row[1])
            locations.append(f"{hub.base}/api/uploads/{uuid.UUID(row[0])}")
            hub.start()
            return

    thread = threading.Thread(target=killer, daemon=True)
    with proxy.running() as via:
        sender = Sender(
            via, token, tmp_path / "state", chunk_size=len(data), checksum=False,
            sleep=lambda _s: time.sleep(0.2),
        )  # fmt: skip
        thread.start()
        sent = sender.send(SMALL_SVS)
    thread.join(5)
    assert acknowledged, "the server was never killed"
    after = httpx.get(locations[0], headers=headers).json()
    assert after["status"] == "completed"
    slide = httpx.get(f"{hub.base}/api/slides/{sent.slide_id}", headers=headers).json()
    assert slide["sha256"] == hashlib.sha256(data).hexdigest()
    sha = slide["sha256"]
    stored = Path(hub.env["SLIDEBRIDGE_DATA_DIR"]) / "slides" / sha[:2] / sha[2:4] / f"{sha}.svs"
    assert stored.read_bytes() == data
    # The client resumed from what the server had made durable, not from zero.
    assert proxy.bytes_up < 2 * len(data) - acknowledged[0] + 100_000


def test_restart_keeps_every_acknowledged_byte(hub_process: HubProcess) -> None:
    hub = hub_process
    token = httpx.post(
        f"{hub.base}/api/auth/token", data={"username": "tech", "password": PASSWORD}
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}", "Tus-Resumable": "1.0.0"}
    data = SMALL_SVS.read_bytes()
    created = httpx.post(f"{hub.base}/api/uploads/", headers={**headers,
                         "Upload-Length": str(len(data))})  # fmt: skip
    location = f"{hub.base}{created.headers['Location']}"
    body = {**headers, "Content-Type": "application/offset+octet-stream"}
    acked = httpx.patch(location, headers={**body, "Upload-Offset": "0"}, content=data[:700_000])
    assert acked.headers["Upload-Offset"] == "700000"
    hub.kill()
    hub.start()
    assert httpx.head(location, headers=headers).headers["Upload-Offset"] == "700000"
    rest = httpx.patch(location, headers={**body, "Upload-Offset": "700000"},
                       content=data[700_000:], timeout=60)  # fmt: skip
    assert rest.status_code == 204, rest.text
    slide = httpx.get(f"{hub.base}/api/slides/{rest.headers['Slide-Id']}", headers=headers).json()
    assert slide["sha256"] == hashlib.sha256(data).hexdigest()
