"""Slides read through OpenSlide: the coarse Deep Zoom levels from the slide's own levels.

`python -m benchmarks.openslide_levels [SLIDE...] [--runs 3] [--json PATH]`

Formats whose tiles we do not decode ourselves (JPEG 2000 Aperio, NDPI, MIRAX, DICOM,
deflate TIFF, ...) reach the builder through OpenSlide's `read_region`, at about
50 megapixels/s per core. `tiler.levels` makes each Deep Zoom level from the coarsest
slide level that qualifies (an exact power-of-two factor OpenSlide reads without
interpolating), and the builder uses that choice as the on-the-fly and arriving paths
do. This benchmark builds each slide's tile pack twice in one process: as the builder
does, and from level 0 alone (every level reduced from level 0's pixels, which is what
a builder that ignored the slide's levels would do), and reports what the levels cut.
Both builds must meet the pixel criterion against their own source levels
(`tests/tiler/test_pyramid.py` checks it on these formats).

Without SLIDE: the real multi-level slides of `../shared/slides` that OpenSlide reads
(no JPEG level of ours), and a synthetic deflate slide of 20000x15000 with levels at
1x, 4x and 16x (Aperio's layout; only OpenSlide decodes deflate). Times are the
process's CPU time (the machine is shared) and wall time, best of `--runs`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchmarks import slides
from benchmarks.report import Column, print_table, write_json
from benchmarks.synthetic_slide import SyntheticSlideSpec
from tiler import level_pixels
from tiler.deepzoom import DeepZoomGrid
from tiler.errors import SlideBridgeError
from tiler.level_pixels import SlidePixels
from tiler.levels import Band, source_bands
from tiler.pyramid import build_pyramid
from tiler.registry import open_slide
from tiler.slide import SlideInfo

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "slides"
DEFLATE = SyntheticSlideSpec(
    width=20000, height=15000, compression="deflate", levels=(1, 4, 16), seed=11
)

COLUMNS = [
    Column("slide", "slide"),
    Column("levels", "levels"),
    Column("sources", "how"),
    Column("bands", "bands"),
    Column("CPU s", "cpu_s", ".3f"),
    Column("wall s", "wall_s", ".3f"),
    Column("MP/s per core", "mps_per_core", ".1f"),
    Column("cut", "cut", ".0%"),
]


def _level_zero_only(info: SlideInfo, jpeg_levels: object) -> list[Band]:
    """Every Deep Zoom level from level 0 (no slide level qualifies as a source)."""
    return source_bands(info, DeepZoomGrid(info.width, info.height), lambda level: False)


@contextmanager
def _sources(how: str) -> Iterator[None]:
    if how == "slide levels":
        yield
        return
    chosen = level_pixels.bands_for
    level_pixels.bands_for = _level_zero_only  # type: ignore[assignment]
    try:
        yield
    finally:
        level_pixels.bands_for = chosen


def openslide_slides(folder: Path) -> list[Path]:
    """The real slides of `folder` read through OpenSlide alone, with several levels."""
    found = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if "broken" in path.parts or path.suffix.lower() in {".md", ".txt"}:
            continue
        try:
            slide = open_slide(path)
        except SlideBridgeError:  # not a slide we read: not one of these
            continue
        pixels = SlidePixels(slide)
        if len(slide.info.levels) > 1 and not pixels.jpeg_levels:
            found.append(path)
        pixels.close()
        slide.close()
    return found


def measure(path: Path, runs: int, work: Path) -> list[dict[str, Any]]:
    slide = open_slide(path)
    info = slide.info
    slide.close()
    levels = " ".join(f"{level.downsample:g}" for level in info.levels)
    rows: list[dict[str, Any]] = []
    for how in ("level 0 only", "slide levels"):
        best_cpu = best_wall = float("inf")
        with _sources(how):
            pixels = SlidePixels(open_slide(path))
            bands = ", ".join(f"L{b.level}: z{b.z_anchor}..{b.z_low}" for b in pixels.bands)
            pixels.close()
            for _ in range(runs):
                out = Path(tempfile.mkdtemp(dir=work)) / "p.tilepack"
                cpu, wall = time.process_time(), time.perf_counter()
                result = build_pyramid(path, out, layout="tilepack", processes=1)
                best_cpu = min(best_cpu, time.process_time() - cpu)
                best_wall = min(best_wall, time.perf_counter() - wall)
                shutil.rmtree(out.parent)
        assert result.pixel_source == "OpenSlide", result.pixel_source
        rows.append(
            {
                "slide": path.name,
                "levels": levels,
                "how": how,
                "bands": bands,
                "cpu_s": best_cpu,
                "wall_s": best_wall,
                "mps_per_core": info.width * info.height / 1e6 / best_cpu,
            }
        )
    rows[1]["cut"] = 1 - rows[1]["cpu_s"] / rows[0]["cpu_s"]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("slides", nargs="*", type=Path)
    parser.add_argument("--runs", type=int, default=3, help="best of N builds")
    parser.add_argument("--json", type=Path, default=slides.BENCH_DIR / "openslide_levels.json")
    args = parser.parse_args()
    paths = list(args.slides)
    if not paths:
        paths = [*openslide_slides(SHARED), slides.synthetic(DEFLATE)]
    work = slides.BENCH_DIR / "work"
    work.mkdir(parents=True, exist_ok=True)
    rows = []
    for path in paths:
        slides.warm_page_cache(path)
        rows += measure(path, args.runs, work)
    print_table(
        "Pyramid from OpenSlide, one process: level 0 only vs the slide's levels", COLUMNS, rows
    )
    write_json(
        args.json,
        {"benchmark": "openslide_levels", "load_average": os.getloadavg(), "rows": rows},
    )


if __name__ == "__main__":
    main()
