"""Deep Zoom tiles of a slide still arriving: latency of final and of interim tiles.

`python -m benchmarks.arriving [SLIDE] [--tiles 2000] [--seed 1] [--share 0.25]
[--runs 3] [--levels 1 4 16] [--json PATH]`

The slide (default: the cached synthetic 40000x30000 Aperio-style slide, every
halving stored; `--levels 1 4 16` keeps only those, as Aperio scanners do) is written
range by range into a sparse file, as the hub holds it mid-transfer, in two
scenarios: `coarse-first`, its structure, every level but the full resolution (what
a sender that sends coarse levels first has sent after the first minutes) and a
random `--share` of the full-resolution tiles; `random`, its structure and a random
`--share` of every other range (a sender in no useful order).
The viewer-weighted tile list of `benchmarks.onthefly` (a screenful per large level,
all of the small ones) is then asked of `ArrivingTiles` one tile at a time, in one
process; each latency is filed as final or interim by the answer. `missing_ranges`
is timed on every interim tile (the hub calls it on each interim request), and
`affected` on the arrival of batches of full-resolution ranges. For comparison the
same list is asked of `SlideTiles` on the finished file.

How the numbers are taken: time.perf_counter around each call, page cache warm, a
fresh 256 MB decoded-tile cache per run, on a 2-core machine that other jobs share;
each row is the run with the median p50 of `--runs`, and the JSON keeps every run.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from benchmarks import slides
from benchmarks.onthefly import _percentile, draw_tiles
from benchmarks.report import Column, console, print_table, write_json
from benchmarks.synthetic_slide import SyntheticSlideSpec
from tiler import open_slide
from tiler.arriving import ArrivingTiles
from tiler.byte_layout import FileLayout, file_layout
from tiler.decoded_cache import DecodedCache
from tiler.level_pixels import SlidePixels
from tiler.onthefly import SlideTiles
from tiler.partial import PartialSlide
from tiler.received import ReceivedRanges

Tile = tuple[int, int, int]
#: Full-resolution ranges per `affected` call (what a receiver could batch per event).
AFFECTED_BATCH = 64
AFFECTED_CALLS = 20
SCENARIOS = ("coarse-first", "random")

COLUMNS = [
    Column("what", "what"),
    Column("calls", "calls"),
    Column("p50 ms", "p50_ms", ".2f"),
    Column("p90 ms", "p90_ms", ".2f"),
    Column("p99 ms", "p99_ms", ".2f"),
    Column("max ms", "max_ms", ".1f"),
    Column("per s", "per_s", ".0f"),
]


def summary(what: str, seconds: list[float]) -> dict[str, Any]:
    if not seconds:
        return {"what": what, "calls": 0}
    ms = sorted(s * 1e3 for s in seconds)
    return {
        "what": what,
        "calls": len(ms),
        "p50_ms": _percentile(ms, 50),
        "p90_ms": _percentile(ms, 90),
        "p99_ms": _percentile(ms, 99),
        "max_ms": ms[-1],
        "mean_ms": statistics.fmean(ms),
        "per_s": len(ms) / sum(seconds),
    }


def timed(call: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    result = call()
    return result, time.perf_counter() - start


class SparseCopy:
    """The slide as the hub holds it: received ranges written in place, holes elsewhere."""

    def __init__(self, source: Path, target: Path, size: int) -> None:
        self.source = os.open(source, os.O_RDONLY)
        self.target = os.open(target, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        os.ftruncate(self.target, size)
        self.path = target
        self.received = ReceivedRanges(size)

    def arrive(self, ranges: list[tuple[int, int]]) -> None:
        for start, end in ranges:
            os.pwrite(self.target, os.pread(self.source, end - start, start), start)
            self.received.add(start, end)

    def close(self) -> None:
        os.close(self.source)
        os.close(self.target)


def plan(
    layout: FileLayout, scenario: str, share: float, seed: int
) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """(ranges in at the start, full-resolution ranges still to come). `coarse-first`:
    the structure, every other level, and `share` of the full-resolution tiles;
    `random`: the structure and `share` of every other range, whatever it holds."""
    rng = random.Random(seed)
    first, later = [], []
    for r in layout.ranges:
        full = r.kind == "tile" and min(t.level for t in r.tiles) == 0
        chosen = rng.random() < share
        if r.kind == "structure" or chosen or (scenario == "coarse-first" and not full):
            first.append((r.start, r.end))
        elif full:
            later.append((r.start, r.end))
    rng.shuffle(later)
    return first, later


def finished_run(path: Path, tiles: list[Tile]) -> dict[str, Any]:
    with open_slide(path) as slide:
        pixels = SlidePixels(slide, DecodedCache())
        finished = SlideTiles(slide, pixels=pixels)
        seconds = [timed(partial(finished.tile, *t))[1] for t in tiles]
        pixels.close()
    return summary("finished slide (SlideTiles)", seconds)


def arriving_run(
    path: Path, layout: FileLayout, tiles: list[Tile], scenario: str, args: Any, scratch: Path
) -> dict[str, Any]:
    copy = SparseCopy(path, scratch / "arriving.svs", layout.size)
    try:
        first, later = plan(layout, scenario, args.full_share, args.seed)
        copy.arrive(first)
        with PartialSlide(copy.path, layout.size, copy.received) as reader:
            arriving = ArrivingTiles(reader, cache=DecodedCache())
            fraction = arriving.received_fraction
            final: list[float] = []
            interim: list[float] = []
            missing: list[float] = []
            for t in tiles:
                (_, is_final), seconds = timed(partial(arriving.tile, *t))
                (final if is_final else interim).append(seconds)
                if not is_final:
                    missing.append(timed(partial(arriving.missing_ranges, *t))[1])
            affected: list[float] = []
            areas: list[int] = []
            for index in range(AFFECTED_CALLS):
                batch = later[index * AFFECTED_BATCH : (index + 1) * AFFECTED_BATCH]
                copy.arrive(batch)
                found, seconds = timed(partial(arriving.affected, batch))
                affected.append(seconds)
                areas.append(len(found))
    finally:
        copy.close()
        copy.path.unlink()
    name = f"{scenario} ({fraction:.0%} in)"
    return {
        "scenario": scenario,
        "received_fraction": fraction,
        "areas_per_affected": statistics.fmean(areas) if areas else None,
        "rows": [
            summary(f"{name}: every tile", final + interim),
            summary(f"{name}: final tiles", final),
            summary(f"{name}: interim tiles", interim),
            summary(f"{name}: missing_ranges (interim)", missing),
            summary(f"{name}: affected ({AFFECTED_BATCH} ranges)", affected),
        ],
    }


def run_once(path: Path, layout: FileLayout, tiles: list[Tile], args: Any) -> dict[str, Any]:
    work = slides.BENCH_DIR / "work"
    work.mkdir(parents=True, exist_ok=True)
    rows = [finished_run(path, tiles)]
    scenarios = []
    for scenario in SCENARIOS:
        with tempfile.TemporaryDirectory(prefix="arriving-", dir=work) as scratch:
            result = arriving_run(path, layout, tiles, scenario, args, Path(scratch))
        scenarios.append({k: v for k, v in result.items() if k != "rows"})
        rows += result["rows"]
    return {"rows": rows, "scenarios": scenarios}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("slide", nargs="?", type=Path, help="slide (default: synthetic)")
    parser.add_argument("--tiles", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--share", dest="full_share", type=float, default=0.25)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--levels", type=int, nargs="+", help="synthetic levels' downsamples, e.g. 1 4 16"
    )
    parser.add_argument("--width", type=int, default=SyntheticSlideSpec.width)
    parser.add_argument("--height", type=int, default=SyntheticSlideSpec.height)
    parser.add_argument("--json", type=Path, default=slides.BENCH_DIR / "arriving.json")
    args = parser.parse_args()

    if args.slide is None and args.levels:
        spec = SyntheticSlideSpec(args.width, args.height, levels=tuple(args.levels))
        slide_path = slides.synthetic(spec)
        slide = slides.describe(slide_path, spec)
        slides.warm_page_cache(slide_path)
    else:
        slide_path, slide = slides.prepare(args.slide, args.width, args.height)
    layout = file_layout(slide_path)
    tiles = draw_tiles(slide["width"], slide["height"], args.tiles, args.seed)
    console.print(f"slide {slide_path}: {slide['width']}x{slide['height']}, {len(tiles)} tiles")
    runs = []
    for number in range(args.runs):
        runs.append(run_once(slide_path, layout, tiles, args))
        console.print(f"  run {number + 1}/{args.runs} done")
    # Per row, the run with the median p50 (the JSON keeps them all).
    rows = []
    for index in range(len(runs[0]["rows"])):
        candidates = sorted(
            (run["rows"][index] for run in runs), key=lambda row: row.get("p50_ms", 0.0)
        )
        rows.append(candidates[len(candidates) // 2])
    print_table(f"Tiles of a slide still arriving: {slide_path.name}", COLUMNS, rows)
    for scenario in runs[0]["scenarios"]:
        console.print(
            f"{scenario['scenario']}: {scenario['received_fraction']:.1%} of the bytes in, "
            f"{scenario['areas_per_affected']:.1f} areas per affected() call"
        )
    write_json(
        args.json,
        {
            "benchmark": "arriving",
            "slide": slide,
            "tiles": len(tiles),
            "seed": args.seed,
            "share": args.full_share,
            "rows": rows,
            "runs": runs,
        },
    )


if __name__ == "__main__":
    main()
