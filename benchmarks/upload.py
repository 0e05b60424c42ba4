"""Resumable uploads over loopback and over a shaped, breaking link.

`python -m benchmarks.upload [--size-mb N] [--cuts N] [--cut-size-mb N] [--shaped]
[--rate-mbit R] [--drops N] [--json PATH]`

Runs a real `slidebridge serve` (its own process, data directory and SQLite) and
measures, from a separate client:

1. throughput of one large upload (default 1 GB) on loopback, without and with a
   per-request SHA-256 checksum, and the CPU both processes used;
2. bytes sent again after N cuts of the connection (tuspy through a proxy that
   cuts at random points), per-request checksums on (8 MiB chunks) and off (one
   streaming request; the hub keeps what arrived before each cut);
3. with `--shaped`: time from the first byte to a viewable slide (DZI answered, and
   pyramid built) for a frozen-section-size slide over a slow link that drops, sent
   as `slidebridge upload` sends by default (no per-request checksum).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

from benchmarks import slides
from benchmarks.report import Column, console, print_goal, print_table, write_json
from benchmarks.shaped_link import CuttingProxy
from benchmarks.synthetic_slide import SyntheticSlideSpec

PASSWORD = "benchmark-password-1"  # noqa: S105 - a throwaway account in a temporary hub
SLIDEBRIDGE = Path(sys.executable).parent / "slidebridge"
CHUNK = 8 * 1024 * 1024
BIG_REQUEST = 256 * 1024 * 1024
#: About 10 x 8 mm of tissue at 0.5 um/px: the size of a frozen section.
FROZEN = SyntheticSlideSpec(width=20000, height=16000)


class Hub:
    """`slidebridge serve` in a temporary data directory, with one technician."""

    def __init__(self, data_dir: Path) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "SLIDEBRIDGE_ENVIRONMENT": "test",
            "SLIDEBRIDGE_SECRET_KEY": "benchmark-secret-key-long-enough",
            "SLIDEBRIDGE_DATA_DIR": str(data_dir),
            "SLIDEBRIDGE_MAX_UPLOAD_BYTES": str(64 * 1024**3),
        }
        for args, stdin in (
            (["site", "add", "BENCH", "--name", "Benchmark"], ""),
            (["user", "add", "tech", "--role", "technician", "--site", "BENCH",
              "--password-stdin"], PASSWORD + "\n"),
        ):  # fmt: skip
            subprocess.run([str(SLIDEBRIDGE), *args], env=self.env, input=stdin.encode(),
                           check=True, capture_output=True)  # fmt: skip
        self.process = subprocess.Popen(
            [str(SLIDEBRIDGE), "serve", "--port", str(self.port)], env=self.env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{self.base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("slidebridge serve did not start")
            time.sleep(0.2)
        response = httpx.post(
            f"{self.base}/api/auth/token", data={"username": "tech", "password": PASSWORD}
        )
        self.token = response.json()["access_token"]
        self.headers = {"Authorization": f"Bearer {self.token}", "Tus-Resumable": "1.0.0"}
        self.cpu = psutil.Process(self.process.pid)

    def cpu_seconds(self) -> float:
        times = self.cpu.cpu_times()
        return float(times.user + times.system)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(30)


def make_file(path: Path, size: int) -> Path:
    """Incompressible bytes (so no layer can cheat), written once and reused."""
    if not path.exists() or path.stat().st_size != size:
        block = os.urandom(4 * 1024 * 1024)
        with open(path, "wb") as handle:
            left = size
            while left > 0:
                handle.write(block[: min(left, len(block))])
                left -= len(block)
    return path


def _stream(path: Path, start: int, length: int) -> Any:
    with open(path, "rb") as handle:
        handle.seek(start)
        left = length
        while left > 0:
            chunk = handle.read(min(left, 1024 * 1024))
            left -= len(chunk)
            yield chunk


def loopback_throughput(hub: Hub, path: Path, checksum: bool) -> dict[str, Any]:
    """One upload of `path`, declared one byte longer so that it never completes:
    this times the transfer and durability path alone (registration is timed in
    the shaped mode)."""
    size = path.stat().st_size
    created = httpx.post(f"{hub.base}/api/uploads/", headers={**hub.headers,
                         "Upload-Length": str(size + 1)})  # fmt: skip
    location = f"{hub.base}{created.headers['Location']}"
    client = psutil.Process()
    client_cpu = sum(client.cpu_times()[:2])
    server_cpu = hub.cpu_seconds()
    started = time.perf_counter()
    offset = 0
    with httpx.Client(timeout=600) as http:
        while offset < size:
            length = min(BIG_REQUEST, size - offset)
            headers = {**hub.headers, "Upload-Offset": str(offset),
                       "Content-Type": "application/offset+octet-stream",
                       "Content-Length": str(length)}  # fmt: skip
            if checksum:
                digest = hashlib.sha256()
                for chunk in _stream(path, offset, length):
                    digest.update(chunk)
                headers["Upload-Checksum"] = "sha256 " + base64.b64encode(digest.digest()).decode()
            response = http.patch(location, headers=headers, content=_stream(path, offset, length))
            response.raise_for_status()
            offset = int(response.headers["Upload-Offset"])
    seconds = time.perf_counter() - started
    httpx.delete(location, headers=hub.headers)
    return {
        "case": f"loopback {'sha256 per request' if checksum else 'no checksum'}",
        "mb": size / 1e6,
        "seconds": seconds,
        "mb_s": size / 1e6 / seconds,
        "server_cpu": (hub.cpu_seconds() - server_cpu) / seconds,
        "client_cpu": (sum(client.cpu_times()[:2]) - client_cpu) / seconds,
    }


def through_cuts(
    hub: Hub, path: Path, cuts: int, checksum: bool, state: Path, rate: float | None = None
) -> dict[str, Any]:
    """tuspy (the `slidebridge upload` sender) through a proxy that cuts `cuts` times."""
    from app.agent.hub import UploadRefusedError
    from app.agent.tus import Sender

    size = path.stat().st_size
    chunk = CHUNK if checksum else size
    # The proxy cuts a connection after a random count of bytes; tuspy opens one
    # connection per request, so with chunks the cut must fall inside one chunk.
    span = min(chunk, size // (cuts + 2))
    spread = (max(1, span // 4), max(2, span))
    proxy = CuttingProxy(hub.port, cuts, spread, seed=cuts, rate_bytes_per_s=rate)
    started = time.perf_counter()
    outcome = "slide"
    with proxy.running() as via:
        sender = Sender(via, hub.token, state, chunk_size=chunk, checksum=checksum,
                        max_wait=2.0)  # fmt: skip
        try:
            sent = sender.send(path, site="BENCH")
        except UploadRefusedError as error:
            outcome = error.reason[:40]
            sent = None
    uploaded = time.perf_counter() - started
    row: dict[str, Any] = {
        "case": f"{cuts} cuts, {'8 MiB chunks + sha1' if checksum else 'one stream, no checksum'}",
        "mb": size / 1e6,
        "cuts": proxy.cuts_done,
        "resent_mb": max(0, proxy.bytes_up - size) / 1e6,
        "resent_per_cut_mb": max(0, proxy.bytes_up - size) / 1e6 / max(1, proxy.cuts_done),
        "chunk_mb": chunk / 1e6 if checksum else None,
        "upload_s": uploaded,
        "outcome": outcome,
    }
    if sent is not None:
        row.update(viewable(hub, sent.slide_id, started))
    return row


def viewable(hub: Hub, slide_id: str, started: float) -> dict[str, Any]:
    """Seconds from the first byte until the DZI answers and until the pyramid is built."""
    dzi = None
    while True:
        if dzi is None and httpx.get(f"{hub.base}/dzi/{slide_id}.dzi",
                                     headers=hub.headers).status_code == 200:  # fmt: skip
            dzi = time.perf_counter() - started
        status = httpx.get(f"{hub.base}/api/slides/{slide_id}", headers=hub.headers).json()
        if status["status"] in {"ready", "failed"}:
            return {"dzi_s": dzi, "pyramid_s": time.perf_counter() - started,
                    "pyramid": status["status"]}  # fmt: skip
        time.sleep(0.2)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.upload", description=__doc__)
    parser.add_argument("--size-mb", type=int, default=1024, help="loopback upload size")
    parser.add_argument("--cuts", type=int, default=5, help="connection cuts")
    parser.add_argument("--cut-size-mb", type=int, default=256, help="file size for cut runs")
    parser.add_argument("--shaped", action="store_true", help="also run the slow-link mode")
    parser.add_argument("--rate-mbit", type=float, default=2.0, help="shaped link, Mbit/s")
    parser.add_argument("--drops", type=int, default=3, help="cuts on the shaped link")
    parser.add_argument("--shaped-slide", type=Path, help="slide for the shaped run "
                        "(default: a synthetic frozen section, 20000x16000)")  # fmt: skip
    parser.add_argument("--json", type=Path, default=slides.BENCH_DIR / "upload.json")
    args = parser.parse_args(argv)

    slides.BENCH_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=slides.BENCH_DIR) as scratch:
        work = Path(scratch)
        hub = Hub(work / "hub")
        try:
            big = make_file(slides.BENCH_DIR / f"random-{args.size_mb}MB.bin",
                            args.size_mb * 1024 * 1024)  # fmt: skip
            loop = [loopback_throughput(hub, big, checksum) for checksum in (False, True)]
            print_table("Loopback upload", [
                Column("case", "case"), Column("MB", "mb", ".0f"), Column("s", "seconds", ".2f"),
                Column("MB/s", "mb_s", ".0f"), Column("server CPU", "server_cpu", ".2f"),
                Column("client CPU", "client_cpu", ".2f"),
            ], loop)  # fmt: skip
            cut_file = make_file(slides.BENCH_DIR / f"random-{args.cut_size_mb}MB.bin",
                                 args.cut_size_mb * 1024 * 1024)  # fmt: skip
            cut_rows = [
                through_cuts(hub, cut_file, args.cuts, checksum, work / f"state-{checksum}")
                for checksum in (True, False)
            ]
            print_table(f"Bytes sent again after {args.cuts} cuts", [
                Column("case", "case"), Column("MB", "mb", ".0f"), Column("cuts", "cuts", "d"),
                Column("resent MB", "resent_mb", ".2f"),
                Column("per cut MB", "resent_per_cut_mb", ".2f"),
                Column("upload s", "upload_s", ".1f"), Column("end", "outcome"),
            ], cut_rows)  # fmt: skip
            shaped: list[dict[str, Any]] = []
            if args.shaped:
                slide = args.shaped_slide or slides.synthetic(FROZEN)
                rate = args.rate_mbit * 1e6 / 8
                # As `slidebridge upload` sends by default: no per-request checksum, so a
                # drop costs only what was in flight (the whole file is checked at the end).
                shaped = [through_cuts(hub, slide, args.drops, False, work / "state-shaped", rate)]
                print_table(f"Frozen section over {args.rate_mbit} Mbit/s with "
                            f"{args.drops} drops", [
                    Column("MB", "mb", ".1f"), Column("cuts", "cuts", "d"),
                    Column("resent MB", "resent_mb", ".2f"), Column("upload s", "upload_s", ".1f"),
                    Column("DZI s", "dzi_s", ".1f"), Column("pyramid s", "pyramid_s", ".1f"),
                ], shaped)  # fmt: skip
        finally:
            hub.stop()
    plain = loop[0]["mb_s"]
    print_goal("loopback >= 300 MB/s", plain >= 300,
               f"{plain:.0f} MB/s plain, {loop[1]['mb_s']:.0f} MB/s with sha256")  # fmt: skip
    per_cut = cut_rows[0]["resent_per_cut_mb"]
    print_goal("at most one chunk resent per cut", per_cut <= CHUNK / 1e6,
               f"{per_cut:.2f} MB per cut with {CHUNK / 1e6:.1f} MB chunks")  # fmt: skip
    console.print("CPU columns: CPU-seconds per wall second (1.0 = one core busy).")
    write_json(args.json, {"loopback": loop, "cuts": cut_rows, "shaped": shaped,
                           "chunk_bytes": CHUNK})  # fmt: skip


if __name__ == "__main__":
    main()
