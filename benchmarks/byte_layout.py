"""What share of a slide file is structure, associated images and each level, and how
long each part takes over the island link: the case for sending a slide in the order a
pathologist needs it instead of in byte order.

`python -m benchmarks.byte_layout [SLIDE...] [--width W --height H] [--link-mbit 2]
[--runs 3] [--json PATH]`

Without SLIDE: the cached synthetic 40000x30000 Aperio-style slide (no associated
images: libvips writes none) and the real CMU-1-Small-Region.svs (which has them). The
send order is the agent's (`app.agent.plan`): the structure every reader needs (header,
directories, small values), associated images, then level by level from the coarsest
down its tile table (TileOffsets/TileByteCounts) and its tiles; a range several levels
need counts for the coarsest. Link seconds are bytes x 8 / link rate, payload only (no
protocol overhead, no loss).

Visible: the hub describes the slide once the structure every reader needs is in, and
draws the coarsest level's tiles once that level's table is in too (in an Aperio
slide the table includes every finer level's byte counts: OpenSlide draws a coarser
tile from the finer level over a tile missing there). Both against the whole structure
(what the hub waited for before), and scaled to the average frozen section (0.83 GB):
the tables by tile count (the slide's tiles x 0.83 GB / its tiles' bytes), the rest
as is.
The parse timings are medians of `--runs` runs on this busy 2-core machine, page
cache warm.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any

from benchmarks import slides
from benchmarks.report import Column, console, print_table, write_json
from benchmarks.synthetic_slide import SyntheticSlideSpec
from tiler.byte_layout import FileLayout, file_layout, progressive_reason
from tiler.partial import PartialSlide
from tiler.received import ReceivedRanges

REAL_APERIO = Path(__file__).resolve().parents[1] / ".." / "shared" / "slides" / "aperio"

COLUMNS = [
    Column("part (send order)", "part"),
    Column("tiles", "tiles"),
    Column("bytes", "bytes", ","),
    Column("share %", "share", ".2f"),
    Column("link s", "seconds", ".1f"),
    Column("cumulative", "cumulative"),
]


def _clock(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}:{rest:02d}"


#: The average frozen section the scaled figures are for.
AVERAGE_FROZEN_BYTES = 0.83e9

VISIBLE_COLUMNS = [
    Column("what", "what"),
    Column("bytes", "bytes", ","),
    Column("% of structure", "share", ".1f"),
    Column("link s", "seconds", ".2f"),
    Column("0.83 GB: bytes", "scaled_bytes", ",.0f"),
    Column("0.83 GB: link s", "scaled_seconds", ".1f"),
]


def parts(layout: FileLayout, link_bits_per_s: float) -> list[dict[str, Any]]:
    """Rows in send order, with each part's bytes and the link time up to its end."""
    level_bytes = layout.level_bytes()
    table_bytes = layout.level_bytes("structure")
    level_tiles = [0] * len(layout.levels)
    for r in layout.ranges:
        for t in r.tiles:
            level_tiles[t.level] += 1
    totals = layout.bytes_by_kind()
    order: list[tuple[str, int, int | None]] = [
        ("structure every reader needs", layout.describing_bytes(), None),
        ("associated images", totals["associated"], None),
    ]
    for level in reversed(range(len(layout.levels))):
        lv = layout.levels[level]
        order.append((f"level {level} tile table", table_bytes[level], None))
        name = f"level {level} ({lv.width}x{lv.height})"
        order.append((name, level_bytes[level], level_tiles[level]))
    order += [("unused image data", totals["unused"], None), ("other", totals["other"], None)]
    rows, sent = [], 0
    for name, size, tiles in order:
        sent += size
        rows.append(
            {
                "part": name,
                "tiles": tiles,
                "bytes": size,
                "share": 100 * size / layout.size,
                "seconds": size * 8 / link_bits_per_s,
                "cumulative": _clock(sent * 8 / link_bits_per_s),
                "cumulative_seconds": sent * 8 / link_bits_per_s,
            }
        )
    return rows


def visible(layout: FileLayout, link_bits_per_s: float) -> list[dict[str, Any]]:
    """Bytes before the hub describes the slide, before it draws the coarsest level,
    and of the whole structure; as they are and scaled to an average frozen section."""
    describing = layout.describing_bytes()
    tables = layout.level_bytes("structure")
    # A slide of this kind with 0.83 GB of tiles has this many times its tiles, and
    # tables (bytes per tile); its directories and their small values stay as they are.
    scale = AVERAGE_FROZEN_BYTES / max(1, layout.bytes_by_kind()["tile"])
    whole = describing + sum(tables)
    rows = []
    for what, fixed, per_tile in (
        ("described (structure every reader needs)", describing, 0),
        ("visible (+ coarsest level's tile table)", describing, tables[-1]),
        ("whole structure (before: all of it)", describing, sum(tables)),
    ):
        size, scaled = fixed + per_tile, fixed + per_tile * scale
        rows.append(
            {
                "what": what,
                "bytes": size,
                "share": 100 * size / whole if whole else 100.0,
                "seconds": size * 8 / link_bits_per_s,
                "scaled_bytes": scaled,
                "scaled_seconds": scaled * 8 / link_bits_per_s,
            }
        )
    return rows


def _median_seconds(runs: int, job: Any) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        job()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(path: Path, link_bits_per_s: float, runs: int) -> dict[str, Any]:
    layout = file_layout(path)
    layout_s = _median_seconds(runs, lambda: file_layout(path))
    received = ReceivedRanges(layout.size)
    for r in layout.ranges:
        if r.kind == "structure" and not r.needed_by:
            received.add(r.start, r.end)

    def describe() -> None:
        with PartialSlide(path, layout.size, received) as partial:
            partial.info  # noqa: B018 - parses the structure every reader needs

    describe_s = _median_seconds(runs, describe)
    for r in layout.ranges:
        if r.needed_by:
            received.add(r.start, r.end)

    def open_partial() -> None:
        with PartialSlide(path, layout.size, received) as partial:
            partial.info  # noqa: B018 - parses the structure
            for level in range(len(partial.info.levels)):
                partial.arrived_tiles(level)  # reads the level's tile table

    partial_s = _median_seconds(runs, open_partial)
    shared = [r for r in layout.ranges if len(r.tiles) > 1]
    rows = parts(layout, link_bits_per_s)
    overview = next(
        (row for row in rows if row["part"].startswith("level 1 (")), rows[1]
    )  # everything but level 0
    console.print(
        f"\n[bold]{path.name}[/]: {layout.size:,} bytes, {layout.vendor} {layout.container}, "
        f"{len(layout.ranges):,} ranges, {len(shared)} shared ranges serving "
        f"{sum(len(r.tiles) for r in shared):,} tiles; hub decodes it: "
        f"{progressive_reason(layout) or 'yes'}"
    )
    print_table(f"{path.name} at {link_bits_per_s / 1e6:g} Mbit/s", COLUMNS, rows)
    shown = visible(layout, link_bits_per_s)
    print_table(
        f"{path.name}: structure before the hub shows it, at {link_bits_per_s / 1e6:g} Mbit/s",
        VISIBLE_COLUMNS,
        shown,
    )
    console.print(
        f"layout {layout_s * 1000:.0f} ms, describing from the first structure "
        f"{describe_s * 1000:.1f} ms, partial open + every table + arrival maps "
        f"{partial_s * 1000:.0f} ms (median of {runs}); whole file "
        f"{_clock(layout.size * 8 / link_bits_per_s)}, everything but level 0 after "
        f"{overview['cumulative']}"
    )
    return {
        "path": str(path),
        "bytes": layout.size,
        "vendor": layout.vendor,
        "container": layout.container,
        "ranges": len(layout.ranges),
        "shared_ranges": len(shared),
        "progressive_reason": progressive_reason(layout),
        "layout_seconds": layout_s,
        "describe_seconds": describe_s,
        "partial_open_seconds": partial_s,
        "parts": rows,
        "visible": shown,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("slides", nargs="*", type=Path)
    parser.add_argument("--width", type=int, default=SyntheticSlideSpec.width)
    parser.add_argument("--height", type=int, default=SyntheticSlideSpec.height)
    parser.add_argument("--link-mbit", type=float, default=2.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", type=Path, default=slides.BENCH_DIR / "byte_layout.json")
    args = parser.parse_args()
    paths = list(args.slides)
    if not paths:
        paths.append(slides.synthetic(SyntheticSlideSpec(width=args.width, height=args.height)))
        real = REAL_APERIO / "CMU-1-Small-Region.svs"
        if real.exists():
            paths.append(real.resolve())
    link = args.link_mbit * 1e6
    results = [measure(path, link, args.runs) for path in paths]
    write_json(args.json, {"link_bits_per_second": link, "slides": results})


if __name__ == "__main__":
    main()
