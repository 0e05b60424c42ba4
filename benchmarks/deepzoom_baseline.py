"""The DeepZoomGenerator baseline: what a user writes today with openslide-python.

`python -m benchmarks.deepzoom_baseline SLIDE OUTDIR` writes the standard DZI
layout (`NAME.dzi`, `NAME_files/Z/COL_ROW.jpeg`, JPEG Q75, tile 254, overlap 1)
with one worker process per core, each with its own OpenSlide handle (handles
are not shared across processes), and prints a JSON summary like
`slidebridge tile --json`.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from multiprocessing import Pool
from pathlib import Path

from openslide import OpenSlide
from openslide.deepzoom import DeepZoomGenerator

TILE_SIZE = 254
OVERLAP = 1
QUALITY = 75

_generator: DeepZoomGenerator | None = None
_tiles_dir: Path | None = None


def _open(slide_path: str, tiles_dir: str) -> None:
    global _generator, _tiles_dir
    _generator = DeepZoomGenerator(OpenSlide(slide_path), TILE_SIZE, OVERLAP)
    _tiles_dir = Path(tiles_dir)


def _write_row(job: tuple[int, int]) -> int:
    """Write one row of one level; a row is a unit of work small enough to balance."""
    z, t_row = job
    assert _generator is not None and _tiles_dir is not None
    t_cols, _ = _generator.level_tiles[z]
    level_dir = _tiles_dir / str(z)
    for t_col in range(t_cols):
        tile = _generator.get_tile(z, (t_col, t_row))
        tile.save(level_dir / f"{t_col}_{t_row}.jpeg", "JPEG", quality=QUALITY)
    return int(t_cols)


def build(slide_path: Path, outdir: Path, processes: int) -> int:
    name = slide_path.stem
    tiles_dir = outdir / f"{name}_files"
    with OpenSlide(slide_path) as slide:
        generator = DeepZoomGenerator(slide, TILE_SIZE, OVERLAP)
        level_tiles = list(generator.level_tiles)
        outdir.mkdir(parents=True, exist_ok=True)
        (outdir / f"{name}.dzi").write_text(generator.get_dzi("jpeg"))
    for z in range(len(level_tiles)):
        (tiles_dir / str(z)).mkdir(parents=True, exist_ok=True)
    # Biggest levels first, so the pool does not end waiting on one large row.
    jobs = [
        (z, t_row) for z in reversed(range(len(level_tiles))) for t_row in range(level_tiles[z][1])
    ]
    with Pool(processes, initializer=_open, initargs=(str(slide_path), str(tiles_dir))) as pool:
        tiles = sum(pool.imap_unordered(_write_row, jobs, chunksize=4))
        # close+join rather than the context's terminate: workers exit and are reaped,
        # so their CPU time reaches the harness's rusage.
        pool.close()
        pool.join()
    return tiles


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("slide", type=Path)
    parser.add_argument("outdir", type=Path)
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    start = time.perf_counter()
    tiles = build(args.slide, args.outdir, args.processes)
    seconds = time.perf_counter() - start
    print(json.dumps({"tiles": tiles, "seconds": round(seconds, 3)}))


if __name__ == "__main__":
    main()
