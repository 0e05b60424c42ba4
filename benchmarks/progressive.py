"""A frozen section over an island's link: progressive transfer against plain tus.

`python -m benchmarks.progressive [--rate-mbit 2] [--drops 3] [--slide PATH] [--json PATH]`

A real `slidebridge serve` (its own process, data directory and SQLite), the agent as a
real process (`slidebridge send`, then `slidebridge upload` for tus) through a shaped
link that drops, and a scripted pathologist on the hub's side who opens the slide as
soon as it exists, looks at the overview, then zooms to full resolution at two places
(a 1920x1080 viewport each, tiles asked again every half second as a viewer does while
they are interim). Measured from the agent's start:

- visible: the slide's Deep Zoom answers and a first tile is on screen;
- overview final: every tile of every level at 1/16 of full resolution or coarser final;
- each viewport final, counted from when it was first asked for;
- total: the hub has verified the whole file, against the link's minimum (size / rate).

From the byte counts of this run, the same figures are extrapolated for a 0.83 GB
frozen section (the average of a published series of 120) at 2 and 10 Mbit/s.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from app.agent.plan import tissue_mask
from benchmarks import slides
from benchmarks.report import Column, console, print_goal, print_table, write_json
from benchmarks.shaped_link import CuttingProxy
from benchmarks.synthetic_slide import SyntheticSlideSpec
from benchmarks.upload import SLIDEBRIDGE, Hub
from tiler.byte_layout import file_layout
from tiler.deepzoom import DeepZoomGrid

#: About 10 x 8 mm of tissue at 0.5 um/px, levels at 1x, 4x and 16x as Aperio scanners
#: write a frozen section.
FROZEN = SyntheticSlideSpec(width=20000, height=16000, levels=(1, 4, 16), bigtiff=False)
AVERAGE_FROZEN_BYTES = 0.83e9
VIEWPORT = (1920, 1080)
#: The overview: every Deep Zoom level at 1/16 of full resolution or coarser.
OVERVIEW_DOWNSAMPLE = 16
GOAL_VISIBLE_S = 5.0
GOAL_OVERVIEW_S = 30.0
GOAL_VIEWPORT_S = 15.0
GOAL_TOTAL_RATIO = 1.05


@dataclass
class Pathologist:
    """Looks at the slide the way the viewer asks for it; notes when things became final."""

    base: str
    headers: dict[str, str]
    grid: DeepZoomGrid
    places: list[tuple[int, int]]
    started: float
    times: dict[str, float] = field(default_factory=dict)
    slide_id: str | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    requests: int = 0

    def at(self, name: str) -> None:
        self.times.setdefault(name, time.monotonic() - self.started)

    def _tile(self, http: httpx.Client, z: int, col: int, row: int) -> bool:
        """Asks for one tile; True when it answered final."""
        self.requests += 1
        answer = http.get(f"/dzi/{self.slide_id}_files/{z}/{col}_{row}.jpeg")
        if answer.status_code != 200:
            raise RuntimeError(f"tile {z}/{col}_{row}: {answer.status_code} {answer.text[:200]}")
        return str(answer.headers.get("slidebridge-tile", "final")) == "final"

    def _until_final(
        self, http: httpx.Client, tiles: list[tuple[int, int, int]], every: float
    ) -> None:
        waiting = list(tiles)
        while waiting and not self.stop.is_set():
            waiting = [tile for tile in waiting if not self._tile(http, *tile)]
            if waiting:
                time.sleep(every)

    def run(self) -> None:
        with httpx.Client(base_url=self.base, headers=self.headers, timeout=60) as http:
            while self.slide_id is None and not self.stop.is_set():
                found = http.get("/api/slides").json()["items"]
                if found:
                    self.slide_id = found[0]["id"]
                else:
                    time.sleep(0.1)
            while http.get(f"/dzi/{self.slide_id}.dzi").status_code != 200:
                time.sleep(0.1)
            z_view = self.grid.z_max
            while max(self.grid.level_dimensions(z_view)) > 1024:
                z_view -= 1
            self._tile(http, z_view, 0, 0)
            self.at("visible_s")
            overview = [
                (z, col, row)
                for z in range(self.grid.z_max - OVERVIEW_DOWNSAMPLE.bit_length() + 2)
                for col in range(self.grid.tile_counts(z)[0])
                for row in range(self.grid.tile_counts(z)[1])
            ]
            self._until_final(http, overview, 1.0)
            self.at("overview_final_s")
            for index, (x, y) in enumerate(self.places):
                asked = time.monotonic()
                self._until_final(http, viewport_tiles(self.grid, x, y), 0.5)
                self.times[f"viewport_{index + 1}_s"] = time.monotonic() - asked


def viewport_tiles(grid: DeepZoomGrid, x: int, y: int) -> list[tuple[int, int, int]]:
    """The full-resolution tiles of a screen centred on level-0 pixel (x, y)."""
    z = grid.z_max
    cols, rows = grid.tile_counts(z)
    half_w, half_h = VIEWPORT[0] // 2, VIEWPORT[1] // 2
    size = grid.tile_size
    return [
        (z, col, row)
        for col in range(max(0, (x - half_w) // size), min(cols, (x + half_w) // size + 1))
        for row in range(max(0, (y - half_h) // size), min(rows, (y + half_h) // size + 1))
    ]


def tissue_places(path: Path, count: int, seed: int = 5) -> list[tuple[int, int]]:
    """Level-0 points in tissue, as a pathologist would zoom in on."""
    found = tissue_mask(path)
    assert found is not None, "the benchmark slide's coarsest level is readable"
    mask, scale = found
    rows, cols = np.nonzero(mask)
    rng = random.Random(seed)
    picks = [rng.randrange(len(rows)) for _ in range(count)]
    return [(int(cols[i] * scale), int(rows[i] * scale)) for i in picks]


def run(
    slide: Path, command: str, rate: float, drops: int, work: Path, places: list[tuple[int, int]]
) -> dict[str, Any]:
    """One contender: a fresh hub, the agent through the link, the pathologist watching."""
    hub = Hub(work / f"hub-{command}")
    size = slide.stat().st_size
    info = file_layout(slide)
    grid = DeepZoomGrid(info.levels[0].width, info.levels[0].height)
    # Cuts within a few MB of a connection: tus opens one per 8 MiB request, `send` keeps
    # two open, so both meet every drop.
    proxy = CuttingProxy(hub.port, cuts=drops, cut_range=(size // 40, size // 12), seed=3,
                         rate_bytes_per_s=rate)  # fmt: skip
    env = {**os.environ, "SLIDEBRIDGE_TOKEN": hub.token}
    try:
        with proxy.running() as via:
            started = time.monotonic()
            eye = Pathologist(hub.base, {"Authorization": f"Bearer {hub.token}"}, grid, places,
                              started)  # fmt: skip
            watcher = threading.Thread(target=eye.run, daemon=True)
            watcher.start()
            agent = subprocess.run(
                [str(SLIDEBRIDGE), command, str(slide), "--server", via,
                 "--state-dir", str(work / f"state-{command}")],
                env=env, capture_output=True, text=True, timeout=24 * 3600,
            )  # fmt: skip
            total = time.monotonic() - started
            if agent.returncode != 0:
                raise RuntimeError(f"{command}: {agent.stdout}{agent.stderr}")
            watcher.join(600)
            eye.stop.set()
    finally:
        hub.stop()
    return {
        "contender": "progressive (send)" if command == "send" else "tus (upload)",
        "mb": size / 1e6,
        "cuts": proxy.cuts_done,
        "wire_mb": proxy.bytes_up / 1e6,
        "total_s": total,
        "link_min_s": size / rate,
        "total_ratio": total / (size / rate),
        "tile_requests": eye.requests,
        **eye.times,
    }


def byte_shares(slide: Path) -> dict[str, float]:
    """Fractions of the file: what must cross before the overview can be final."""
    layout = file_layout(slide)
    size = layout.size
    coarse = [
        index for index, level in enumerate(layout.levels)
        if level.downsample >= OVERVIEW_DOWNSAMPLE * 0.99
    ]  # fmt: skip
    overview = sum(
        item.length for item in layout.ranges
        if item.kind == "associated"
        or (item.kind == "structure" and (item.level is None or item.level in coarse))
        or (item.kind == "tile" and any(key.level in coarse for key in item.tiles))
    )  # fmt: skip
    # The slide is described (its Deep Zoom answers) once the structure every reader
    # needs is in; the levels' tile tables come with their levels.
    return {"structure": layout.describing_bytes() / size, "overview": overview / size}


def extrapolate(row: dict[str, Any], shares: dict[str, float], rate: float) -> list[dict[str, Any]]:
    """The run's figures for an average frozen section (0.83 GB) at 2 and 10 Mbit/s.

    Structure and overview scale with the file (their share of its bytes, sent first),
    plus what the run spent beyond their bytes (round trips, the viewer's polling); a
    viewport's tiles do not (a screenful is the same bytes in any slide), so its time
    scales with the link only; the whole file scales by the run's bytes on the wire."""
    size = row["mb"] * 1e6
    wire = row["wire_mb"] / row["mb"]
    visible_extra = row["visible_s"] - shares["structure"] * size / rate
    overview_extra = row["overview_final_s"] - shares["overview"] * size * wire / rate
    viewport = max(row.get("viewport_1_s", 0.0), row.get("viewport_2_s", 0.0))
    rows = []
    for mbit in (2.0, 10.0):
        link = mbit * 1e6 / 8
        rows.append({
            "link": f"{mbit:g} Mbit/s",
            "visible_s": shares["structure"] * AVERAGE_FROZEN_BYTES / link
            + max(0.0, visible_extra),
            "overview_final_s": shares["overview"] * AVERAGE_FROZEN_BYTES * wire / link
            + max(0.0, overview_extra),
            "viewport_s": viewport * rate / link,
            "total_min": AVERAGE_FROZEN_BYTES * wire / link / 60,
        })  # fmt: skip
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.progressive", description=__doc__)
    parser.add_argument("--rate-mbit", type=float, default=2.0, help="the link's uplink")
    parser.add_argument("--drops", type=int, default=3, help="connection drops")
    parser.add_argument("--slide", type=Path, help="default: a synthetic frozen section")
    parser.add_argument("--only", choices=["send", "upload"], nargs="+",
                        default=["send", "upload"])  # fmt: skip
    parser.add_argument("--json", type=Path, default=slides.BENCH_DIR / "progressive.json")
    args = parser.parse_args(argv)
    slide = args.slide or slides.synthetic(FROZEN)
    rate = args.rate_mbit * 1e6 / 8
    places = tissue_places(slide, 2)
    console.print(f"slide {slide.name}: {slide.stat().st_size / 1e6:.1f} MB over "
                  f"{args.rate_mbit:g} Mbit/s with {args.drops} drops")  # fmt: skip
    rows = []
    with tempfile.TemporaryDirectory(dir=slides.BENCH_DIR) as scratch:
        for command in args.only:
            console.print(f"running {command} ...")
            rows.append(run(slide, command, rate, args.drops, Path(scratch), places))
    print_table("Frozen section over a shaped link (seconds from the agent's start)", [
        Column("contender", "contender"), Column("MB", "mb", ".1f"), Column("drops", "cuts", "d"),
        Column("visible", "visible_s", ".1f"), Column("overview final", "overview_final_s", ".1f"),
        Column("viewport 1", "viewport_1_s", ".1f"), Column("viewport 2", "viewport_2_s", ".1f"),
        Column("total", "total_s", ".1f"), Column("link min", "link_min_s", ".1f"),
        Column("x min", "total_ratio", ".3f"), Column("wire MB", "wire_mb", ".1f"),
    ], rows)  # fmt: skip
    shares = byte_shares(slide)
    progressive = next((r for r in rows if r["contender"].startswith("progressive")), None)
    projected: list[dict[str, Any]] = []
    if progressive is not None:
        projected = extrapolate(progressive, shares, rate)
        print_table("The same for a 0.83 GB frozen section (extrapolated from the byte counts)", [
            Column("link", "link"), Column("visible s", "visible_s", ".1f"),
            Column("overview final s", "overview_final_s", ".1f"),
            Column("viewport s", "viewport_s", ".1f"), Column("whole file min", "total_min", ".1f"),
        ], projected)  # fmt: skip
        visible = progressive.get("visible_s", float("inf"))
        print_goal(f"visible < {GOAL_VISIBLE_S:g} s", visible < GOAL_VISIBLE_S,
                   f"{visible:.1f} s")  # fmt: skip
        print_goal(f"overview final < {GOAL_OVERVIEW_S:g} s",
                   progressive.get("overview_final_s", 1e9) < GOAL_OVERVIEW_S,
                   f"{progressive.get('overview_final_s', float('nan')):.1f} s")  # fmt: skip
        worst = max(progressive.get("viewport_1_s", 1e9), progressive.get("viewport_2_s", 1e9))
        print_goal(f"each viewport final < {GOAL_VIEWPORT_S:g} s after asked",
                   worst < GOAL_VIEWPORT_S, f"worst {worst:.1f} s")  # fmt: skip
        print_goal(f"whole file <= {GOAL_TOTAL_RATIO} x the link's minimum",
                   progressive["total_ratio"] <= GOAL_TOTAL_RATIO,
                   f"{progressive['total_ratio']:.3f} x")  # fmt: skip
    console.print(
        f"byte shares: structure {shares['structure']:.2%}, "
        f"overview (structure, small images, levels >= 1/16) {shares['overview']:.2%}"
    )
    write_json(args.json, {"rows": rows, "shares": shares, "projected_0_83_GB": projected,
                           "rate_mbit": args.rate_mbit, "drops": args.drops})  # fmt: skip


if __name__ == "__main__":
    main()
