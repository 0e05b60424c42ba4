"""Real clients over a link that breaks: tuspy (through `slidebridge upload`'s sender)
through a proxy that cuts connections mid-body; the slide arrives byte-identical
and becomes viewable."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.agent.hub import UploadRefusedError
from app.agent.tus import Sender
from app.core.config import Settings
from benchmarks.shaped_link import CuttingProxy
from tests.conftest import SLIDES, SMALL_SVS, World


def wait_ready(base: str, headers: dict[str, str], slide_id: str, timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        slide = httpx.get(f"{base}/api/slides/{slide_id}", headers=headers).json()
        if slide["status"] in {"ready", "failed"}:
            return slide
        time.sleep(0.3)
    raise AssertionError(f"slide {slide_id} not built in {timeout}s")


def _port(base: str) -> int:
    return int(base.rsplit(":", 1)[1])


def test_tuspy_through_a_cutting_proxy_resumes_and_the_slide_is_viewable(
    live: str, world: World, settings: Settings, tmp_path: Path
) -> None:
    data = SMALL_SVS.read_bytes()
    case = httpx.post(
        f"{live}/api/cases",
        headers=world.auth("tech_north"),
        json={"patient_mrn": "MRN-1", "patient_name": "A Patient", "specimen_site": "breast",
              "clinical_question": "margin clear?"},
    )  # fmt: skip
    assert case.status_code == 201, case.text
    proxy = CuttingProxy(_port(live), cuts=5, cut_range=(50_000, 400_000), seed=7)
    with proxy.running() as via:
        sender = Sender(
            via, world.tokens["tech_north"], tmp_path / "state", chunk_size=512 * 1024,
            checksum=True, sleep=lambda _s: time.sleep(0.05),
        )  # fmt: skip
        sent = sender.send(SMALL_SVS, case=case.json()["id"])
    assert proxy.cuts_done == 5
    # With per-request checksums a cut request is discarded: at most one chunk per cut
    # goes twice, never the whole file.
    assert len(data) < sender.body_bytes <= len(data) + 5 * 512 * 1024
    headers = world.auth("tech_north")
    slide = wait_ready(live, headers, sent.slide_id)
    assert slide["status"] == "ready", slide
    assert slide["sha256"] == hashlib.sha256(data).hexdigest()
    sha = slide["sha256"]
    stored = settings.data_dir / "slides" / sha[:2] / sha[2:4] / f"{sha}.svs"
    assert hashlib.sha256(stored.read_bytes()).hexdigest() == sha
    dzi = httpx.get(f"{live}/dzi/{sent.slide_id}.dzi", headers=headers)
    assert dzi.status_code == 200 and b"<Image" in dzi.content
    status = httpx.get(f"{live}{sent.upload_url.split(via)[-1]}", headers=headers).json()
    assert status["case_id"] == case.json()["id"]


def test_a_whole_body_cut_keeps_the_received_prefix(
    live: str, world: World, tmp_path: Path
) -> None:
    """One PATCH carrying the whole file, cut three times: each retry sends only the rest."""
    data = SMALL_SVS.read_bytes()
    proxy = CuttingProxy(_port(live), cuts=3, cut_range=(300_000, 600_000), seed=3)
    with proxy.running() as via:
        sender = Sender(
            via, world.tokens["tech_north"], tmp_path / "state", chunk_size=len(data),
            checksum=False, sleep=lambda _s: time.sleep(0.05),
        )  # fmt: skip
        sender.send(SMALL_SVS)
    assert proxy.cuts_done == 3
    # Without checksums per request, what arrived before a cut is kept: each cut costs
    # at most what was in flight in the socket buffers, not the bytes before it.
    assert proxy.bytes_up < len(data) + 3 * 300_000, (proxy.bytes_up, len(data))


def test_resume_across_runs_sends_no_byte_twice(live: str, world: World, tmp_path: Path) -> None:
    data = SMALL_SVS.read_bytes()
    proxy = CuttingProxy(_port(live), cuts=0, cut_range=(1, 1))
    with proxy.running() as via:
        first = Sender(via, world.tokens["tech_north"], tmp_path / "state", chunk_size=256 * 1024)
        calls = 0

        def stop_after_three(done: int, total: int) -> None:
            nonlocal calls
            calls += 1
            if calls == 3:
                raise KeyboardInterrupt  # the technician closes the laptop

        with pytest.raises(KeyboardInterrupt):
            first.send(SMALL_SVS, progress=stop_after_three)
        sent_before = proxy.bytes_up
        second = Sender(via, world.tokens["tech_north"], tmp_path / "state", chunk_size=256 * 1024)
        second.send(SMALL_SVS)
    # The second run sends only what the first had not (plus request headers).
    assert proxy.bytes_up - sent_before < len(data) - 3 * 256 * 1024 + 50_000


def test_a_file_that_is_not_a_slide_is_reported_to_the_client(
    live: str, world: World, tmp_path: Path
) -> None:
    sender = Sender(live, world.tokens["tech_north"], tmp_path / "state")
    with pytest.raises(UploadRefusedError) as refused:
        sender.send(SLIDES / "broken" / "broken.svs")
    assert "broken.svs" in refused.value.reason
    assert "slide" in refused.value.reason.lower()


def test_a_slide_of_several_files_resumes_file_by_file_through_cuts(
    live: str, world: World, tmp_path: Path
) -> None:
    """A DICOM series through a link that breaks: each file goes as a resumable set part,
    a cut costs at most the request in flight, and the hub assembles the one slide."""
    from app.agent.sets import SetSender
    from tests.tiler.slide_files import dicom_series

    folder = dicom_series(tmp_path / "series")
    files = sorted(folder.iterdir())
    total = sum(p.stat().st_size for p in files)
    chunk = 64 * 1024
    proxy = CuttingProxy(_port(live), cuts=4, cut_range=(10_000, 50_000), seed=3)
    token = world.tokens["tech_north"]
    with proxy.running() as via:
        parts = Sender(
            via, token, tmp_path / "state", chunk_size=chunk, checksum=True,
            sleep=lambda _s: time.sleep(0.05),
        )  # fmt: skip
        slide_id = SetSender(via, token, parts=parts).send(folder, files)
    assert proxy.cuts_done == 4
    assert total <= parts.body_bytes <= total + proxy.cuts_done * chunk
    slide = wait_ready(live, world.auth("path_north"), slide_id)
    assert (slide["status"], slide["vendor"], slide["name"]) == ("ready", "dicom", "series")
