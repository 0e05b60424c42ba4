"""On-the-fly tile latency: random Deep Zoom tiles from the source slide, one process.

`python -m benchmarks.onthefly [SLIDE] [--tiles N] [--seed S] [--json PATH]`

This is what a viewer costs before (or without) a pyramid: each request is one
tile, encoded to JPEG Q75, served by one process. The tile list is drawn once
from a seeded RNG and handed to every contender, so they serve the same tiles.
Each contender runs in its own child process, one after the other: OpenSlide 4
keeps a process-wide tile cache, and a shared process would let the first
contender warm it for the second.

Levels are weighted the way a viewer asks for them: a screenful (about 40 tiles)
at every level larger than the screen, and the whole of the small levels.
"""

from __future__ import annotations

import argparse
import importlib
import io
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from benchmarks import slides
from benchmarks.measure import run_measured
from benchmarks.report import Column, console, print_goal, print_table, write_json
from benchmarks.synthetic_slide import SyntheticSlideSpec

TILE_SIZE = 254
OVERLAP = 1
QUALITY = 75
SCREEN_TILES = 40
GOAL_P99_MS = 10.0
CONTENDERS = ("deepzoom-generator", "slidebridge")
#: Exit status of a worker whose contender cannot be imported yet.
EXIT_UNAVAILABLE = 3

Tile = tuple[int, int, int]
TileFn = Callable[[int, int, int], int]


class _Tiles(Protocol):
    """The part of `tiler.onthefly.SlideTiles` this benchmark calls."""

    def tile(self, z: int, col: int, row: int) -> bytes: ...


COLUMNS = [
    Column("contender", "contender"),
    Column("status", "status"),
    Column("open ms", "open_ms", ".1f"),
    Column("p50 ms", "p50_ms", ".2f"),
    Column("p90 ms", "p90_ms", ".2f"),
    Column("p99 ms", "p99_ms", ".2f"),
    Column("max ms", "max_ms", ".1f"),
    Column("tiles/s", "tiles_per_s", ".0f"),
    Column("KB/tile", "kb_per_tile", ".1f"),
    Column("peak MB", "peak_mb", ".0f"),
]


def level_tile_counts(l0_width: int, l0_height: int) -> list[tuple[int, int]]:
    """Tile columns and rows per Deep Zoom level, level 0 (1x1) first."""
    dims = [(l0_width, l0_height)]
    while dims[-1] != (1, 1):
        w, h = dims[-1]
        dims.append((max(1, -(-w // 2)), max(1, -(-h // 2))))
    return [(-(-w // TILE_SIZE), -(-h // TILE_SIZE)) for w, h in reversed(dims)]


def draw_tiles(l0_width: int, l0_height: int, count: int, seed: int) -> list[Tile]:
    counts = level_tile_counts(l0_width, l0_height)
    weights = [min(cols * rows, SCREEN_TILES) for cols, rows in counts]
    rng = random.Random(seed)
    tiles: list[Tile] = []
    for z in rng.choices(range(len(counts)), weights=weights, k=count):
        cols, rows = counts[z]
        tiles.append((z, rng.randrange(cols), rng.randrange(rows)))
    return tiles


# --- worker side: runs in the child process -------------------------------------


def _deepzoom_generator(path: Path) -> TileFn:
    from openslide import OpenSlide
    from openslide.deepzoom import DeepZoomGenerator

    generator = DeepZoomGenerator(OpenSlide(path), TILE_SIZE, OVERLAP)

    def tile(z: int, col: int, row: int) -> int:
        buf = io.BytesIO()
        generator.get_tile(z, (col, row)).save(buf, "JPEG", quality=QUALITY)
        return buf.tell()

    return tile


def _slidebridge(path: Path) -> TileFn:
    from tiler import open_slide
    from tiler.deepzoom import TileOptions

    # By name: the module is being written alongside this benchmark, and a static
    # import of a module that is not there yet trips the linters, not just the run.
    onthefly = importlib.import_module("tiler.onthefly")
    tiles: _Tiles = onthefly.SlideTiles(open_slide(path), TileOptions())

    def tile(z: int, col: int, row: int) -> int:
        return len(tiles.tile(z, col, row))

    return tile


def worker(name: str, slide: Path, tiles_file: Path, result_file: Path) -> None:
    opener = {"deepzoom-generator": _deepzoom_generator, "slidebridge": _slidebridge}[name]
    start = time.perf_counter()
    try:
        tile_fn = opener(slide)
    except ImportError as exc:
        print(f"{name} is not available: {exc}", file=sys.stderr)
        raise SystemExit(EXIT_UNAVAILABLE) from exc
    open_s = time.perf_counter() - start
    latencies: list[float] = []
    sizes = 0
    for z, col, row in json.loads(tiles_file.read_text()):
        begin = time.perf_counter()
        sizes += tile_fn(z, col, row)
        latencies.append(time.perf_counter() - begin)
    result_file.write_text(json.dumps({"open_s": open_s, "latencies_s": latencies, "bytes": sizes}))


# --- parent side -----------------------------------------------------------------


def _percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile: an observed latency, not an interpolation."""
    rank = max(1, round(q / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def run_contender(name: str, slide: Path, tiles_file: Path, scratch: Path) -> dict[str, Any]:
    result_file = scratch / f"{name}.json"
    argv = [sys.executable, "-m", "benchmarks.onthefly", str(slide), "--worker", name]
    argv += ["--tiles-file", str(tiles_file), "--result-file", str(result_file)]
    console.print(f"  running {name}")
    m = run_measured(argv, timeout_s=1800)
    row: dict[str, Any] = {"contender": name, "peak_mb": m.peak_rss_bytes / 1e6, "cpu_s": m.cpu_s}
    if m.returncode != 0 or not result_file.exists():
        lines = [line for line in m.stderr.strip().splitlines() if line.strip()]
        row["status"] = "unavailable" if m.returncode == EXIT_UNAVAILABLE else "FAILED"
        row["error"] = f"exit {m.returncode}: {lines[-1] if lines else 'no message'}"
        return row
    data = json.loads(result_file.read_text())
    latencies = sorted(data["latencies_s"])
    ms = [s * 1e3 for s in latencies]
    row |= {
        "status": "ok",
        "error": None,
        "tiles": len(ms),
        "open_ms": data["open_s"] * 1e3,
        "mean_ms": statistics.fmean(ms),
        "p50_ms": _percentile(ms, 50),
        "p90_ms": _percentile(ms, 90),
        "p99_ms": _percentile(ms, 99),
        "max_ms": ms[-1],
        "tiles_per_s": len(ms) / sum(latencies),
        "kb_per_tile": data["bytes"] / len(ms) / 1e3,
    }
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("slide", nargs="?", type=Path, help="slide (default: synthetic)")
    parser.add_argument("--tiles", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, default=slides.BENCH_DIR / "onthefly.json")
    parser.add_argument("--width", type=int, default=SyntheticSlideSpec.width)
    parser.add_argument("--height", type=int, default=SyntheticSlideSpec.height)
    parser.add_argument("--only", nargs="+", choices=CONTENDERS, help="run only these")
    # Internal: how the parent starts each contender in its own process.
    parser.add_argument("--worker", choices=CONTENDERS, help=argparse.SUPPRESS)
    parser.add_argument("--tiles-file", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--result-file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        worker(args.worker, args.slide, args.tiles_file, args.result_file)
        return

    slide_path, slide = slides.prepare(args.slide, args.width, args.height)
    tile_list = draw_tiles(slide["width"], slide["height"], args.tiles, args.seed)
    console.print(f"slide {slide_path}: {slide['width']}x{slide['height']}, {len(tile_list)} tiles")

    rows = []
    with tempfile.TemporaryDirectory(prefix="onthefly-") as scratch:
        tiles_file = Path(scratch) / "tiles.json"
        tiles_file.write_text(json.dumps(tile_list))
        for name in args.only or CONTENDERS:
            rows.append(run_contender(name, slide_path, tiles_file, Path(scratch)))

    print_table(f"On-the-fly tiles: {slide_path.name}", COLUMNS, rows)
    for row in rows:
        if row["error"]:
            console.print(f"{row['contender']}: {row['error']}")
    ours = next((r for r in rows if r["contender"] == "slidebridge"), None)
    p99 = ours.get("p99_ms") if ours else None
    met = None if p99 is None else p99 < GOAL_P99_MS
    print_goal(
        f"slidebridge p99 < {GOAL_P99_MS:.0f} ms",
        met,
        "no result" if p99 is None else f"{p99:.2f} ms",
    )
    levels = sorted({z for z, _, _ in tile_list})
    write_json(
        args.json,
        {
            "benchmark": "onthefly",
            "slide": slide,
            "tiles": len(tile_list),
            "seed": args.seed,
            "levels_drawn": {z: sum(1 for t in tile_list if t[0] == z) for z in levels},
            "goals": {"p99_ms": GOAL_P99_MS},
            "contenders": rows,
        },
    )


if __name__ == "__main__":
    main()
