"""A large one-strip picture (a JPEG is one entropy-coded stream): what tiles cost read
from the picture itself, and from the tiled pyramidal TIFF the hub stores instead.

`python -m benchmarks.pictures [--width 12000 --height 9000] [--tiles 20] [--json PATH]`

Rows, each in a fresh process (its peak memory is its own):
- convert: `write_tiled_copy` once (what registration does), seconds and peak RSS;
- picture, fresh handle per tile: open the JPEG and read one 256x256 window, as a
  reader without a kept handle would (every tile decodes the image up to it);
- picture, one handle: `VipsSlide` kept open (libvips decodes the whole image on the
  first window and keeps it: memory grows by the decoded picture);
- tiled copy: `open_slide` on the stored copy (OpenSlide, JPEG tiles).
Tiles are at random places, the same in every row; medians and the first read apart.
The machine is shared with other work: compare rows of one run, not runs.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.report import Column, console, print_table, write_json

TILE = 256
COLUMNS = [
    Column("reading", "row"),
    Column("first tile ms", "first_ms", ".1f"),
    Column("median tile ms", "median_ms", ".1f"),
    Column("seconds", "seconds", ".2f"),
    Column("peak RSS MB", "rss_mb", ".0f"),
]


def _picture(path: Path, width: int, height: int) -> None:
    """Stained-looking texture: pink-purple noise over smooth blotches, streamed to disk."""
    import pyvips

    blotches = pyvips.Image.gaussnoise(width // 64 + 1, height // 64 + 1, sigma=40, mean=128)
    blotches = blotches.resize(64, kernel="linear").crop(0, 0, width, height)
    grain = pyvips.Image.gaussnoise(width, height, sigma=12, mean=0)
    base = blotches + grain
    image = base.bandjoin([base * 0.6, base * 0.9]).cast("uchar").copy(interpretation="srgb")
    image.jpegsave(str(path), Q=85)


def _peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM: unlike ru_maxrss, not inherited
    from the parent across exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _child(mode: str, path: str, copy: str, places: list[list[int]]) -> dict[str, Any]:
    """Runs in a fresh process: one row's measurement."""
    import pyvips

    from tiler.registry import open_slide, write_tiled_copy

    pyvips.cache_set_max(0)  # as the service runs libvips: a new handle decodes anew

    times: list[float] = []
    started = time.perf_counter()
    if mode == "convert":
        write_tiled_copy(path, copy)
    elif mode == "fresh":
        for x, y in places:
            begin = time.perf_counter()
            with open_slide(path) as slide:
                slide.read_region((x, y), 0, (TILE, TILE))
            times.append(time.perf_counter() - begin)
    else:
        with open_slide(path if mode == "handle" else copy) as slide:
            for x, y in places:
                begin = time.perf_counter()
                slide.read_region((x, y), 0, (TILE, TILE))
                times.append(time.perf_counter() - begin)
    seconds = time.perf_counter() - started
    row: dict[str, Any] = {"seconds": seconds, "rss_mb": _peak_rss_mb()}
    if times:
        row["first_ms"] = times[0] * 1000
        row["median_ms"] = statistics.median(times[1:] or times) * 1000
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--width", type=int, default=12000)
    parser.add_argument("--height", type=int, default=9000)
    parser.add_argument("--tiles", type=int, default=20)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, path, copy, places = args.child
        print(json.dumps(_child(mode, path, copy, json.loads(places))))
        return
    rng = random.Random(7)
    places = [
        [rng.randrange(0, args.width - TILE), rng.randrange(0, args.height - TILE)]
        for _ in range(args.tiles)
    ]
    rows = []
    with tempfile.TemporaryDirectory(prefix="pictures-") as scratch:
        picture, copy = Path(scratch) / "large.jpg", Path(scratch) / "large.pyramid.tiff"
        _picture(picture, args.width, args.height)
        labels = {
            "convert": "convert once (registration)",
            "fresh": "picture, fresh handle per tile",
            "handle": "picture, one handle kept",
            "copy": "tiled copy (what the hub reads)",
        }
        for mode, label in labels.items():
            command = [sys.executable, "-m", "benchmarks.pictures", "--child", mode,
                       str(picture), str(copy), json.dumps(places)]  # fmt: skip
            done = subprocess.run(command, capture_output=True, text=True, check=True)
            rows.append({"row": label, "mode": mode, **json.loads(done.stdout.splitlines()[-1])})
        sizes = {"picture_mb": picture.stat().st_size / 1e6, "copy_mb": copy.stat().st_size / 1e6}
    title = f"{args.width}x{args.height} one-strip JPEG, {args.tiles} tiles of {TILE}"
    print_table(title, COLUMNS, rows)
    by_mode = {row["mode"]: row for row in rows}
    ratio = by_mode["fresh"]["median_ms"] / by_mode["copy"]["median_ms"]
    console.print(
        f"a tile from the tiled copy: {ratio:.0f}x faster than from a fresh picture handle; "
        f"picture {sizes['picture_mb']:.1f} MB, tiled copy {sizes['copy_mb']:.1f} MB"
    )
    if args.json:
        write_json(args.json, {"rows": rows, "sizes": sizes, "width": args.width,
                               "height": args.height, "fresh_over_copy": ratio})  # fmt: skip


if __name__ == "__main__":
    main()
