"""Full Deep Zoom pyramid build: SlideBridge against vips dzsave and DeepZoomGenerator.

`python -m benchmarks.tiling [SLIDE...] [--json PATH] [--runs N] [--width W --height H]
[--processes 1,2,...] [--texture NAME] [--levels 1 4 16]`

Contenders run one after another, never together (two cores: overlap would
measure the scheduler), each into a fresh directory on the bench disk; the outputs
are deleted after the last run (a deletion of many files before a build multiplies the
kernel time of its creates on this machine's ext4, see `ALLOCATOR_SETTLE_S`). With `--runs N` the
contenders take turns N times and the table shows each one's median run; the JSON
keeps every run.
SlideBridge runs once per worker-process count of `--processes` (default: every
core), and the scaling table shows each count against one process; the anchors
run with their own defaults (every core), and the ratios are to our run with the
most processes.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import slides
from benchmarks.contenders import (
    Contender,
    anchor_name,
    anchors,
    count_output,
    expected_tiles,
    ours,
    reported_summary,
    vips_cli_loader,
)
from benchmarks.measure import run_measured
from benchmarks.report import Column, console, print_goal, print_table, write_json
from benchmarks.synthetic_slide import SyntheticSlideSpec

#: Goals against the anchor (issue 12): DZI files 6x, the tile pack 8x.
GOAL_SPEEDUP = {"dzi": 6.0, "tilepack": 8.0}
GOAL_PEAK_BYTES = 1 << 30
#: One process's own throughput (`slidebridge tile --processes 1 --json`).
GOAL_ONE_PROCESS_MPS = 150.0
#: Scaling: N processes at least this share of N times one process's throughput.
GOAL_EFFICIENCY = 0.85

COLUMNS = [
    Column("contender", "contender"),
    Column("status", "status"),
    Column("wall s", "wall_s", ".2f"),
    Column("own s", "reported_s", ".2f"),
    Column("CPU s", "cpu_s", ".2f"),
    Column("CPU/wall", "cpu_per_wall", ".2f"),
    Column("peak MB", "peak_mb", ".0f"),
    Column("PSS MB", "peak_pss_mb", ".0f"),
    Column("tiles", "tiles", "d"),
    Column("tiles/s", "tiles_per_s", ".0f"),
    Column("MP/s", "megapixels_per_s", ".1f"),
    Column("out MB", "output_mb", ".0f"),
    Column("x anchor", "speedup_vs_anchor", ".2f"),
    Column("CPU x anchor", "cpu_speedup_vs_anchor", ".2f"),
    Column("load", "load_before", ".1f"),
]


def _error_line(stderr: str, returncode: int) -> str:
    lines = [line.strip() for line in stderr.strip().splitlines() if line.strip()]
    last = lines[-1] if lines else "no message"
    return f"exit {returncode}: {last[:160]}"


#: Seconds after deleting outputs before anything else creates files. ext4 without a
#: journal (this machine's disk) checks, when it allocates an inode, whether each free one
#: it finds was freed in the last minute (`recently_deleted` in fs/ext4/ialloc.c; five
#: minutes more while its inode-table block is dirty), and skips it if so. Enough after
#: one build's files on one VM. After a whole benchmark's deletion (175,000 files) the
#: first DZI build paid 2.8-4.6 s of system time (and up to 6 s blocked) on another,
#: whether it started at once, after `sync` and 65 s, or after 30,000 files created
#: before it; the build after it, 0.8 s. A journalled ext4 never makes that check.
ALLOCATOR_SETTLE_S = 12.0


def run_one(
    contender: Contender, slide: dict[str, Any], work_dir: Path, timeout_s: float
) -> tuple[dict[str, Any], Path]:
    """One measured run, and its output directory: kept until every contender of the
    slide has run (`delete_outputs`), so that none starts right after a deletion."""
    slide_path = Path(slide["path"])
    outdir = Path(tempfile.mkdtemp(prefix=f"{contender.name}-", dir=work_dir))
    argv = contender.argv(slide_path, outdir)
    console.print(f"  running {contender.name}: {' '.join(argv)}")
    # The machine may be shared: what else ran is part of the number.
    load_before = os.getloadavg()[0]
    m = run_measured(argv, timeout_s=timeout_s)
    load_after = os.getloadavg()[0]
    files, out_bytes = count_output(outdir)
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
        "load_before": load_before,
        "load_after": load_after,
        "cpu_per_wall": m.cpu_s / m.wall_s if m.wall_s else None,
        "peak_rss_bytes": m.peak_rss_bytes,
        "peak_mb": m.peak_rss_bytes / 1e6,
        "peak_pss_bytes": m.peak_pss_bytes,
        "peak_pss_mb": m.peak_pss_bytes / 1e6,
        "processes": contender.processes,
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
    return row, outdir


def delete_outputs(outdirs: list[Path]) -> None:
    """Delete the runs' outputs, then let the allocator settle (`ALLOCATOR_SETTLE_S`) so
    that whatever runs next pays as little as it can for the deletion."""
    for outdir in outdirs:
        shutil.rmtree(outdir, ignore_errors=True)
    time.sleep(ALLOCATOR_SETTLE_S)


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
    anchor_cpu = anchor_rows[0]["cpu_s"] if anchor_rows else None
    for row in summary:
        row["wall_s_all_runs"] = [r["wall_s"] for r in by_name[row["contender"]]]
        row["wall_s_median"] = statistics.median(row["wall_s_all_runs"])
        ok = row["error"] is None and anchor_wall is not None
        row["speedup_vs_anchor"] = anchor_wall / row["wall_s"] if ok else None
        # CPU time is steadier than wall time on a machine others load.
        row["cpu_speedup_vs_anchor"] = anchor_cpu / row["cpu_s"] if ok and anchor_cpu else None
    return summary


SCALING_COLUMNS = [
    Column("layout", "layout"),
    Column("processes", "processes", "d"),
    Column("wall s", "wall_s", ".2f"),
    Column("own MP/s", "own_mps", ".1f"),
    Column("CPU s", "cpu_s", ".2f"),
    Column("x 1 process", "speedup", ".2f"),
    Column("efficiency", "efficiency", ".2f"),
    Column("peak MB", "peak_mb", ".0f"),
    Column("PSS MB", "peak_pss_mb", ".0f"),
]


def _layout(row: dict[str, Any]) -> str:
    return "tilepack" if row["contender"].startswith("slidebridge-tilepack") else "dzi"


def scaling(summary: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Our runs by layout and process count, against the same layout's one-process run
    (the own time: interpreter start-up is the same at any count)."""
    table = []
    for layout in ("dzi", "tilepack"):
        runs = sorted(
            (r for r in summary if r.get("processes") and _layout(r) == layout and not r["error"]),
            key=lambda r: r["processes"],
        )
        base = next((r for r in runs if r["processes"] == 1), None)
        for row in runs:
            own = row["reported"].get("megapixels_per_second")
            seconds = row["reported_s"] or row["wall_s"]
            base_s = (base["reported_s"] or base["wall_s"]) if base else None
            speedup = base_s / seconds if base_s else None
            table.append(
                {
                    "layout": layout,
                    "processes": row["processes"],
                    "wall_s": row["wall_s"],
                    "own_s": row["reported_s"],
                    "own_mps": own,
                    "cpu_s": row["cpu_s"],
                    "speedup": speedup,
                    "efficiency": speedup / row["processes"] if speedup else None,
                    "peak_mb": row["peak_mb"],
                    "peak_pss_mb": row["peak_pss_mb"],
                }
            )
    return table


def print_goals(summary: list[dict[str, Any]], table: list[dict[str, Any]], anchor: str) -> None:
    top = max((r["processes"] for r in summary if r.get("processes")), default=None)
    for row in summary:
        if not row.get("processes"):
            continue
        layout = _layout(row)
        failed = row["error"] is not None
        if row["processes"] == top:
            goal = GOAL_SPEEDUP[layout]
            speedup = row["speedup_vs_anchor"]
            met = None if speedup is None else speedup >= goal
            detail = "no result" if speedup is None else f"{speedup:.2f}x {anchor}"
            print_goal(f"{row['contender']} >= {goal:.0f}x {anchor}", met, detail)
        if row["processes"] == 1:
            # Per layout: DZI files pay the disk's inode allocator, the tile pack does not.
            own = None if failed else row["reported"].get("megapixels_per_second")
            met = None if own is None else own >= GOAL_ONE_PROCESS_MPS
            detail = "no result" if own is None else f"{own:.1f} MP/s, own time"
            print_goal(f"one process ({layout}) >= {GOAL_ONE_PROCESS_MPS:.0f} MP/s", met, detail)
        # PSS: what the pool holds (RSS counts the pages forked workers share once each).
        held = row["peak_pss_bytes"] or row["peak_rss_bytes"]
        peak_ok = None if failed else held < GOAL_PEAK_BYTES
        peak = "no result" if failed else f"{held / 1e6:.0f} MB PSS"
        print_goal(f"{row['contender']} peak memory < 1 GB", peak_ok, peak)
    for row in table:
        if row["processes"] > 1 and row["efficiency"] is not None:
            met = row["efficiency"] >= GOAL_EFFICIENCY
            detail = f"{row['speedup']:.2f}x one process with {row['processes']}"
            print_goal(f"{row['layout']} scaling >= {GOAL_EFFICIENCY:.0%} per process", met, detail)


def _counts(text: str) -> list[int]:
    counts = sorted({int(part) for part in text.split(",") if part.strip()})
    if not counts or counts[0] < 1:
        raise argparse.ArgumentTypeError("process counts are positive integers: 1,2,4")
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("slides", nargs="*", type=Path, help="slides (default: synthetic)")
    parser.add_argument("--json", type=Path, default=slides.BENCH_DIR / "tiling.json")
    parser.add_argument("--runs", type=int, default=1, help="turns per contender")
    parser.add_argument("--width", type=int, default=SyntheticSlideSpec.width)
    parser.add_argument("--height", type=int, default=SyntheticSlideSpec.height)
    parser.add_argument(
        "--texture", default=SyntheticSlideSpec.texture, help="synthetic slide's sample image"
    )
    parser.add_argument(
        "--levels", type=int, nargs="+", help="synthetic slide's level downsamples, e.g. 1 4 16"
    )
    parser.add_argument(
        "--processes",
        type=_counts,
        default=[os.cpu_count() or 1],
        help="our worker-process counts, e.g. 1,2 (default: every core)",
    )
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run only these contenders")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per contender")
    args = parser.parse_args()

    theirs, notes = anchors()
    contenders = ours(args.processes) + theirs
    anchor = anchor_name(contenders)
    if args.only:
        contenders = [c for c in contenders if c.name in set(args.only)]
    for contender in theirs:
        console.print(f"anchor {contender.name}: {contender.version}")
    work_dir = slides.BENCH_DIR / "work"
    work_dir.mkdir(parents=True, exist_ok=True)
    spec = SyntheticSlideSpec(
        width=args.width,
        height=args.height,
        texture=args.texture,
        levels=tuple(args.levels) if args.levels else None,
    )

    results = []
    for given in args.slides or [None]:
        slide_path, slide = slides.prepare(given, args.width, args.height, spec)
        slide["tiles_expected"] = expected_tiles(slide["width"], slide["height"])
        slide["vips_cli_loader"] = vips_cli_loader(slide_path)
        if slide["vips_cli_loader"] not in (None, "openslideload"):
            # Not what a shell user's `vips dzsave` does on a scan: the anchor would lie.
            console.print(f"warning: vips CLI reads this slide with {slide['vips_cli_loader']}")
        console.print(f"slide {slide_path}: {slide['width']}x{slide['height']}")
        runs = [
            run_one(contender, slide, work_dir, args.timeout)
            for _ in range(args.runs)
            for contender in contenders
        ]
        delete_outputs([outdir for _, outdir in runs])
        rows = [row for row, _ in runs]
        summary = summarize(rows, anchor)
        print_table(f"Deep Zoom pyramid build: {slide_path.name}", COLUMNS, summary)
        for row in summary:
            if row["error"] or row.get("note"):
                console.print(f"{row['contender']}: {row['error'] or row['note']}")
        table = scaling(summary)
        print_table(
            "Scaling: worker processes (own time, against one process)", SCALING_COLUMNS, table
        )
        print_goals(summary, table, anchor)
        results.append({"slide": slide, "summary": summary, "scaling": table, "runs": rows})
    for note in notes:
        console.print(f"note: {note}")
    write_json(
        args.json,
        {
            "benchmark": "tiling",
            "anchor": anchor,
            "anchors": [{"name": c.name, "version": c.version} for c in theirs],
            "processes": args.processes,
            "notes": notes,
            "goals": {
                "speedup": GOAL_SPEEDUP,
                "one_process_mps": GOAL_ONE_PROCESS_MPS,
                "scaling_efficiency": GOAL_EFFICIENCY,
                "peak_bytes": GOAL_PEAK_BYTES,
            },
            "slides": results,
        },
    )


if __name__ == "__main__":
    main()
