"""Full Deep Zoom pyramid build: SlideBridge against vips dzsave and DeepZoomGenerator.

`python -m benchmarks.tiling [SLIDE...] [--json PATH] [--runs N] [--width W --height H]`

Contenders run one after another, never together (two cores: overlap would
measure the scheduler), each into a fresh directory on the bench disk, which is
deleted before the next starts. With `--runs N` the contenders take turns N
times and the table shows each one's median run; the JSON keeps every run.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
from pathlib import Path
from typing import Any

from benchmarks import slides
from benchmarks.contenders import (
    Contender,
    all_contenders,
    anchor_name,
    count_output,
    expected_tiles,
    reported_summary,
    vips_cli_loader,
)
from benchmarks.measure import run_measured
from benchmarks.report import Column, console, print_goal, print_table, write_json
from benchmarks.synthetic_slide import SyntheticSlideSpec

GOAL_SPEEDUP = 4.0
STRETCH_SPEEDUP = 8.0
GOAL_PEAK_BYTES = 1 << 30

COLUMNS = [
    Column("contender", "contender"),
    Column("status", "status"),
    Column("wall s", "wall_s", ".2f"),
    Column("own s", "reported_s", ".2f"),
    Column("CPU s", "cpu_s", ".2f"),
    Column("CPU/wall", "cpu_per_wall", ".2f"),
    Column("peak MB", "peak_mb", ".0f"),
    Column("tiles", "tiles", "d"),
    Column("tiles/s", "tiles_per_s", ".0f"),
    Column("MP/s", "megapixels_per_s", ".1f"),
    Column("out MB", "output_mb", ".0f"),
    Column("x anchor", "speedup_vs_anchor", ".2f"),
]


def _error_line(stderr: str, returncode: int) -> str:
    lines = [line.strip() for line in stderr.strip().splitlines() if line.strip()]
    last = lines[-1] if lines else "no message"
    return f"exit {returncode}: {last[:160]}"


def run_one(
    contender: Contender, slide: dict[str, Any], work_dir: Path, timeout_s: float
) -> dict[str, Any]:
    slide_path = Path(slide["path"])
    outdir = Path(tempfile.mkdtemp(prefix=f"{contender.name}-", dir=work_dir))
    try:
        argv = contender.argv(slide_path, outdir)
        console.print(f"  running {contender.name}: {' '.join(argv)}")
        m = run_measured(argv, timeout_s=timeout_s)
        files, out_bytes = count_output(outdir)
    finally:
        shutil.rmtree(outdir, ignore_errors=True)
    summary = reported_summary(m.stdout)
    reported = summary.get("tiles")
    tiles = reported if contender.container and isinstance(reported, int) else files
    ok = m.returncode == 0 and not m.timed_out
    row: dict[str, Any] = {
        "contender": contender.name,
        "argv": argv,
        "status": "ok" if ok else "FAILED",
        "error": None,
        "note": None,
        "returncode": m.returncode,
        "wall_s": m.wall_s,
        "cpu_s": m.cpu_s,
        "cpu_per_wall": m.cpu_s / m.wall_s if m.wall_s else None,
        "peak_rss_bytes": m.peak_rss_bytes,
        "peak_mb": m.peak_rss_bytes / 1e6,
        "tiles": tiles,
        "tile_files": files,
        "tiles_reported": reported,
        "tiles_expected": slide["tiles_expected"],
        "output_bytes": out_bytes,
        "output_mb": out_bytes / 1e6,
        "tiles_per_s": tiles / m.wall_s if m.wall_s else None,
        "megapixels_per_s": slide["megapixels"] / m.wall_s if m.wall_s else None,
        "reported": summary,
        # The contender's own timing, where it prints one: wall minus this is start-up.
        "reported_s": summary.get("seconds"),
    }
    if not ok:
        row["error"] = "timed out" if m.timed_out else _error_line(m.stderr, m.returncode)
        for key in ("tiles", "tiles_per_s", "megapixels_per_s", "output_mb", "cpu_per_wall"):
            row[key] = None
        row["status"] = "FAILED"
    elif tiles != slide["tiles_expected"]:
        row["status"] = "ok*"
        row["note"] = f"{tiles} tiles, Deep Zoom defines {slide['tiles_expected']}"
    return row


def _median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median wall time (a real run, so its columns agree)."""
    good = [r for r in runs if r["error"] is None] or runs
    ordered = sorted(good, key=lambda r: r["wall_s"])
    return dict(ordered[(len(ordered) - 1) // 2])


def summarize(rows: list[dict[str, Any]], anchor: str) -> list[dict[str, Any]]:
    by_name: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_name.setdefault(row["contender"], []).append(row)
    summary = [_median_run(runs) | {"runs": len(runs)} for runs in by_name.values()]
    anchor_rows = [r for r in summary if r["contender"] == anchor and r["error"] is None]
    anchor_wall = anchor_rows[0]["wall_s"] if anchor_rows else None
    for row in summary:
        row["wall_s_all_runs"] = [r["wall_s"] for r in by_name[row["contender"]]]
        row["wall_s_median"] = statistics.median(row["wall_s_all_runs"])
        ok = row["error"] is None and anchor_wall is not None
        row["speedup_vs_anchor"] = anchor_wall / row["wall_s"] if ok else None
    return summary


def print_goals(summary: list[dict[str, Any]], ours: set[str], anchor: str) -> None:
    for row in summary:
        if row["contender"] not in ours:
            continue
        speedup = row["speedup_vs_anchor"]
        met = None if speedup is None else speedup >= GOAL_SPEEDUP
        detail = "no result" if speedup is None else f"{speedup:.2f}x {anchor}"
        if speedup is not None and speedup >= STRETCH_SPEEDUP:
            detail += ", stretch goal met"
        print_goal(f"{row['contender']} >= {GOAL_SPEEDUP:.0f}x {anchor} (stretch 8x)", met, detail)
        failed = row["error"] is not None
        peak_ok = None if failed else row["peak_rss_bytes"] < GOAL_PEAK_BYTES
        peak = "no result" if failed else f"{row['peak_rss_bytes'] / 1e6:.0f} MB"
        print_goal(f"{row['contender']} peak memory < 1 GB", peak_ok, peak)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("slides", nargs="*", type=Path, help="slides (default: synthetic)")
    parser.add_argument("--json", type=Path, default=slides.BENCH_DIR / "tiling.json")
    parser.add_argument("--runs", type=int, default=1, help="turns per contender")
    parser.add_argument("--width", type=int, default=SyntheticSlideSpec.width)
    parser.add_argument("--height", type=int, default=SyntheticSlideSpec.height)
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run only these contenders")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per contender")
    args = parser.parse_args()

    contenders, notes = all_contenders()
    anchor = anchor_name(contenders)
    if args.only:
        contenders = [c for c in contenders if c.name in set(args.only)]
    work_dir = slides.BENCH_DIR / "work"
    work_dir.mkdir(parents=True, exist_ok=True)

    results = []
    for given in args.slides or [None]:
        slide_path, slide = slides.prepare(given, args.width, args.height)
        slide["tiles_expected"] = expected_tiles(slide["width"], slide["height"])
        slide["vips_cli_loader"] = vips_cli_loader(slide_path)
        if slide["vips_cli_loader"] not in (None, "openslideload"):
            # Not what a shell user's `vips dzsave` does on a scan: the anchor would lie.
            console.print(f"warning: vips CLI reads this slide with {slide['vips_cli_loader']}")
        console.print(f"slide {slide_path}: {slide['width']}x{slide['height']}")
        rows = [
            run_one(contender, slide, work_dir, args.timeout)
            for _ in range(args.runs)
            for contender in contenders
        ]
        summary = summarize(rows, anchor)
        print_table(f"Deep Zoom pyramid build: {slide_path.name}", COLUMNS, summary)
        for row in summary:
            if row["error"] or row.get("note"):
                console.print(f"{row['contender']}: {row['error'] or row['note']}")
        print_goals(summary, {c.name for c in contenders if c.ours}, anchor)
        results.append({"slide": slide, "summary": summary, "runs": rows})
    for note in notes:
        console.print(f"note: {note}")
    write_json(
        args.json,
        {
            "benchmark": "tiling",
            "anchor": anchor,
            "notes": notes,
            "goals": {
                "speedup": GOAL_SPEEDUP,
                "stretch": STRETCH_SPEEDUP,
                "peak_bytes": GOAL_PEAK_BYTES,
            },
            "slides": results,
        },
    )


if __name__ == "__main__":
    main()
