"""IIIF renders under load: the server's memory, and whether cheap requests keep their speed.

`python -m benchmarks.iiif [SLIDE] [--before REV] [--duration S] [--flood N] [--json PATH]`

Two servers, each `slidebridge serve` in its own process on 127.0.0.1 on a data
directory where the slide is registered and its pyramid is not built (tiles are made
on the fly, the costly case), one after the other:

- `before`: the service at commit REV (default: the last one before bounded renders),
  exported with `git archive` and run from there with this interpreter;
- `after`: the service of this checkout.

For each:

1. Memory: the server's RSS (sampled every 20 ms with psutil) idle, then its peak
   during one `/iiif/3/{id}/x,y,8000,8000/max/0/default.jpg`, then during four at once
   (four different regions), as in the issue.
2. Latency: viewers panning (`--viewers` clients at `--rate` tiles/s each, on-the-fly
   Deep Zoom tiles of the three finest levels, drawn as `benchmarks.onthefly` draws
   them) and a surgeon's worklist
   (`GET /api/cases`, one client at 10/s) for `--duration` s idle, then again with
   `--flood` clients asking for small IIIF renders (1024x1024 regions at 512 px)
   without pause. Tile p99 and worklist p99 during the flood are compared with idle
   (the goal: within 2x). Each phase draws its own tiles: the service caches encoded
   tiles, and a repeated tile would be a cache hit. Both start with 3 s of warm-up on
   other tiles, the flood starts with that warm-up, and one idle phase before them all
   is not counted (the first phase after start-up was the slowest in every trial, with
   or without a flood). Idle and flood alternate
   `--repeats` times and each kind's latencies are pooled (the JSON keeps each
   phase's p99 too): on this shared 2-core machine one 20 s phase is noisy.

The load generator (`benchmarks.loadgen`, aiohttp) runs on the same two cores as the
server, so flood numbers include its CPU; `server CPU` shows the server's share.
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import psutil

from benchmarks import slides
from benchmarks.contenders import _slidebridge
from benchmarks.loadgen import LoadResult, run_load
from benchmarks.measure import _TreeMemorySampler
from benchmarks.onthefly import draw_tiles, level_tile_counts
from benchmarks.report import Column, console, print_goal, print_table, write_json
from benchmarks.serving import (
    SITE,
    Server,
    _cpu_s,
    _run,
    free_port,
    register,
    running,
    service_env,
    sign_in,
    summarize,
)
from benchmarks.synthetic_slide import SyntheticSlideSpec

#: The last commit before bounded renders (IIIF level 2 + render places).
BEFORE_REV = "bb1150c"
BIG_REGION = 8000
SMALL_REGION = 1024
GOAL_RATIO = 2.0
WARMUP_S = 3.0
FINEST_LEVELS = 3
#: The worklist page polls; 10/s gives a p99 of a few hundred samples per phase.
CASES_RATE = 10.0
SURGEON = "surgeon"
#: A render of the whole 8000x8000 region may take this long on a busy machine.
RENDER_TIMEOUT_S = 600.0

MEMORY_COLUMNS = [
    Column("server", "server"),
    Column("renders", "renders", "d"),
    Column("idle MB", "idle_mb", ".0f"),
    Column("peak MB", "peak_mb", ".0f"),
    Column("added MB", "added_mb", ".0f"),
    Column("wall s", "wall_s", ".1f"),
    Column("statuses", "statuses"),
]
LATENCY_COLUMNS = [
    Column("server", "server"),
    Column("phase", "phase"),
    Column("what", "source"),
    Column("requests", "ok", "d"),
    Column("errors", "errors", "d"),
    Column("p50 ms", "p50_ms", ".1f"),
    Column("p99 ms", "p99_ms", ".1f"),
    Column("max ms", "max_ms", ".1f"),
    Column("x idle p99", "ratio_to_idle", ".2f"),
    Column("server CPU", "server_cores", ".2f"),
]


def export_revision(rev: str, into: Path) -> Path:
    """The repository at `rev`, as files in `into` (never a worktree or a checkout)."""
    into.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", rev], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into


def server_argv(code: Path | None, port: int) -> list[str]:
    serve = ["serve", "--host", "127.0.0.1", "--port", str(port)]
    if code is None:
        return [_slidebridge(), *serve]
    # `-c` puts the current directory first on sys.path: the exported `app` wins over
    # this checkout's editable install. The child's cwd is set by `running` callers.
    return [sys.executable, "-c", f"import sys; sys.path.insert(0, {str(code)!r}); "
            "from app.cli import main; sys.argv[0] = 'slidebridge'; main()", *serve]  # fmt: skip


def prepare_server(
    label: str, code: Path | None, slide: Path, work: Path, password: str, secret: str
) -> Server:
    env = service_env((work / label).resolve(), secret)
    slide_id = register(slide, env, password)
    _run(
        [_slidebridge(), "user", "add", SURGEON, "--role", "surgeon", "--site", SITE,
         "--password-stdin"], env, password + "\n",
    )  # fmt: skip
    return Server(
        label,
        server_argv(code, free_port()),
        env,
        f"/dzi/{slide_id}_files/{{z}}/{{col}}_{{row}}.jpeg",
        slide_id=slide_id,
        expect_status="not ready",
    )


def token(base: str, username: str, password: str) -> dict[str, str]:
    answer = httpx.post(
        f"{base}/api/auth/token", data={"username": username, "password": password}, timeout=30
    )
    answer.raise_for_status()
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def _rss(proc: psutil.Process) -> int:
    return int(proc.memory_info().rss)


def measure_memory(
    label: str, proc: psutil.Process, base: str, headers: dict[str, str], slide_id: str, count: int
) -> dict[str, Any]:
    """Peak RSS of the server while `count` 8000x8000 renders run at once."""
    paths = [
        f"/iiif/3/{slide_id}/{i * BIG_REGION},{BIG_REGION},{BIG_REGION},{BIG_REGION}"
        "/max/0/default.jpg"
        for i in range(count)
    ]
    time.sleep(1.0)
    idle = _rss(proc)
    sampler = _TreeMemorySampler(proc.pid, 0.02)
    sampler.start()
    began = time.perf_counter()

    def fetch(path: str) -> int:
        return httpx.get(base + path, headers=headers, timeout=RENDER_TIMEOUT_S).status_code

    with ThreadPoolExecutor(count) as pool:
        statuses = list(pool.map(fetch, paths))
    wall = time.perf_counter() - began
    sampler.stop()
    peak = max(sampler.peak_rss_bytes, _rss(proc))
    return {
        "server": label,
        "renders": count,
        "idle_mb": idle / 1e6,
        "peak_mb": peak / 1e6,
        "added_mb": (peak - idle) / 1e6,
        "wall_s": wall,
        "statuses": ",".join(str(s) for s in statuses),
    }


def panning_tiles(server: Server, slide: dict[str, Any], count: int, seed: int) -> list[str]:
    """Tiles of the `FINEST_LEVELS` finest Deep Zoom levels, drawn as a viewer asks for
    them: a pathologist panning at high power. Each costs about the same on the fly
    (a few slide tiles decoded, one encoded); the zoomed-out levels cost a reduction
    the first time and nothing after, and would make p99 a matter of which tiles the
    phase drew rather than of the load."""
    top = len(level_tile_counts(slide["width"], slide["height"])) - 1
    tiles = draw_tiles(slide["width"], slide["height"], count * 3, seed)
    kept = [t for t in tiles if t[0] > top - FINEST_LEVELS][:count]
    return [server.path_template.format(z=z, col=c, row=r) for z, c, r in kept]


def flood_paths(slide_id: str, width: int, height: int, count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [
        f"/iiif/3/{slide_id}/{rng.randrange(width - SMALL_REGION)},"
        f"{rng.randrange(height - SMALL_REGION)},{SMALL_REGION},{SMALL_REGION}/512,/0/default.jpg"
        for _ in range(count)
    ]


def _in_thread(run: Callable[[], tuple[LoadResult, LoadResult]]) -> Callable[[], LoadResult]:
    """Start `run` (a `run_load`, with its own event loop) in a thread; a join for its result."""
    box: list[LoadResult] = []
    thread = threading.Thread(target=lambda: box.append(run()[1]), daemon=True)
    thread.start()

    def join() -> LoadResult:
        thread.join()
        return box[0]

    return join


def measure_phase(
    proc: psutil.Process,
    base: str,
    server: Server,
    headers: dict[str, str],
    surgeon: dict[str, str],
    slide: dict[str, Any],
    args: argparse.Namespace,
    seed: int,
    flood: int,
) -> tuple[dict[str, tuple[LoadResult, float]], tuple[float, float]]:
    """Each load's result and the server's CPU during the phase; the machine's load
    average before and after it."""
    tile_paths = panning_tiles(server, slide, 20000, seed)
    cases = ["/api/cases"] * 100000
    assert server.slide_id is not None
    renders = flood_paths(server.slide_id, slide["width"], slide["height"], 100000, seed)
    cpu_start = _cpu_s(proc)
    load_before = os.getloadavg()[0]
    # A short warm-up on other tiles first: handles, caches and connections open.
    warm_paths = panning_tiles(server, slide, 2000, seed + 100)
    joins = {
        "tiles": _in_thread(lambda: run_load(
            base, tile_paths, clients=args.viewers, duration_s=args.duration,
            headers=headers, rate=args.rate, warmup_paths=warm_paths, warmup_s=WARMUP_S)),
        "GET /api/cases": _in_thread(lambda: run_load(
            base, cases, clients=1, duration_s=args.duration, headers=surgeon,
            rate=CASES_RATE, warmup_paths=cases, warmup_s=WARMUP_S)),
    }  # fmt: skip
    if flood:
        joins["IIIF flood"] = _in_thread(
            lambda: run_load(
                base, renders, clients=flood, duration_s=args.duration, headers=headers
            )
        )
    results = {name: join() for name, join in joins.items()}
    cpu = _cpu_s(proc) - cpu_start
    # The machine's 1-minute load around the phase: this server and the load generator
    # make about 2-3; more means other work shared the cores.
    load = (load_before, os.getloadavg()[0])
    console.print(f"    load average {load[0]:.1f} -> {load[1]:.1f}")
    return {name: (result, cpu) for name, result in results.items()}, load


def pooled(runs: list[tuple[LoadResult, float]]) -> tuple[LoadResult, float]:
    """Several measurements of one kind as one: latencies together, counts and times added."""
    total = LoadResult(clients=runs[0][0].clients)
    cpu = 0.0
    for result, cpu_s in runs:
        total.requests += result.requests
        total.errors += result.errors
        total.error_samples += result.error_samples[: 5 - len(total.error_samples)]
        total.wall_s += result.wall_s
        total.latencies_s += result.latencies_s
        total.bytes += result.bytes
        total.client_cpu_s += result.client_cpu_s
        total.exhausted |= result.exhausted
        cpu += cpu_s
    return total, cpu


def measure_server(
    server: Server, slide: dict[str, Any], args: argparse.Namespace, password: str, work: Path
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    base = f"http://127.0.0.1:{server.argv[server.argv.index('--port') + 1]}"
    log = work / f"{server.source}.log"
    with running(server.argv, server.env, log) as proc:
        headers = sign_in(base, server, password)
        surgeon = token(base, SURGEON, password)
        # Warm-up: imports, the slide handle, a first render.
        assert server.slide_id is not None
        warm = flood_paths(server.slide_id, slide["width"], slide["height"], 4, seed=99)
        for path in warm:
            httpx.get(base + path, headers=headers, timeout=RENDER_TIMEOUT_S).raise_for_status()
        memory: list[dict[str, Any]] = []
        for count in (1, 4) if args.memory else ():
            console.print(f"  {server.source}: {count} x {BIG_REGION}x{BIG_REGION} render(s)")
            memory.append(
                measure_memory(server.source, proc, base, headers, server.slide_id, count)
            )
        bogus = httpx.get(f"{base}/iiif/3/{server.slide_id}/full/max/0/x.gif", headers=headers)
        console.print(f"  {server.source}: a bad IIIF request is {bogus.status_code}")
        runs: dict[tuple[str, str], list[tuple[LoadResult, float]]] = {}
        loads: dict[str, list[tuple[float, float]]] = {}
        # A whole idle phase first, not counted: the first phase after start-up was the
        # slowest in every trial, flood or not (on-the-fly machinery, caches, connections).
        console.print(f"  {server.source}: warm-up, {args.duration:g} s")
        measure_phase(proc, base, server, headers, surgeon, slide, args, 1000, 0)
        seed = 0
        for repeat in range(args.repeats):
            for phase, flood in (("idle", 0), ("flood", args.flood)):
                seed += 1
                console.print(f"  {server.source}: {phase} {repeat + 1}, {args.duration:g} s")
                measured, load = measure_phase(
                    proc, base, server, headers, surgeon, slide, args, seed, flood
                )
                loads.setdefault(phase, []).append(load)
                for name, run in measured.items():
                    runs.setdefault((phase, name), []).append(run)
    latency = []
    for (phase, name), measured_runs in runs.items():
        result, cpu = pooled(measured_runs)
        row = summarize(name, result, cpu) | {"server": server.source, "phase": phase}
        row["p99_ms_each"] = [summarize(name, r, c).get("p99_ms") for r, c in measured_runs]
        row["load_average_each"] = loads[phase]
        latency.append(row)
    return memory, latency


def add_ratios(rows: list[dict[str, Any]]) -> None:
    idle = {(r["server"], r["source"]): r.get("p99_ms") for r in rows if r["phase"] == "idle"}
    for row in rows:
        base = idle.get((row["server"], row["source"]))
        p99 = row.get("p99_ms")
        row["ratio_to_idle"] = p99 / base if p99 is not None and base else None


def print_goals(memory: list[dict[str, Any]], latency: list[dict[str, Any]]) -> dict[str, Any]:
    goals: dict[str, Any] = {}
    for what in ("tiles", "GET /api/cases"):
        row = next(
            (
                r
                for r in latency
                if (r["server"], r["phase"], r["source"]) == ("after", "flood", what)
            ),
            None,
        )
        ratio = row.get("ratio_to_idle") if row is not None and not row["errors"] else None
        met = None if ratio is None else ratio <= GOAL_RATIO
        print_goal(f"{what} p99 during the flood within {GOAL_RATIO:g}x of idle", met,
                   "no clean result" if ratio is None else f"{ratio:.2f}x")  # fmt: skip
        goals[what] = met
    added = {(r["server"], r["renders"]): r["added_mb"] for r in memory}
    if ("after", 1) in added and ("after", 4) in added:
        print_goal(
            "memory of 4 renders at once bounded (not 4x one)",
            added[("after", 4)] < 2 * max(added[("after", 1)], 50.0),
            f"{added[('after', 1)]:.0f} MB for one, {added[('after', 4)]:.0f} MB for four",
        )
    return goals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("slide", nargs="?", type=Path, help="slide (default: synthetic)")
    parser.add_argument("--before", default=BEFORE_REV, help="revision measured as `before`")
    parser.add_argument("--only", nargs="+", choices=("before", "after"))
    parser.add_argument(
        "--no-memory", dest="memory", action="store_false", help="skip the 8000x8000 renders"
    )
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per phase")
    parser.add_argument(
        "--repeats", type=int, default=2, help="idle and flood phases, alternated, pooled"
    )
    parser.add_argument("--flood", type=int, default=48, help="IIIF clients in the flood")
    parser.add_argument("--viewers", type=int, default=8, help="tile clients")
    parser.add_argument("--rate", type=float, default=10.0, help="tiles/s per tile client")
    parser.add_argument("--width", type=int, default=SyntheticSlideSpec.width)
    parser.add_argument("--height", type=int, default=SyntheticSlideSpec.height)
    parser.add_argument("--json", type=Path, default=slides.BENCH_DIR / "iiif.json")
    args = parser.parse_args()

    slide_path, slide = slides.prepare(args.slide, args.width, args.height)
    if min(slide["width"], slide["height"]) < 2 * BIG_REGION:
        raise SystemExit(f"the slide must be at least {2 * BIG_REGION} pixels on each side")
    work = slides.work_dir("iiif-")
    password, secret = secrets.token_urlsafe(24), secrets.token_urlsafe(48)
    memory: list[dict[str, Any]] = []
    latency: list[dict[str, Any]] = []
    try:
        for label in args.only or ("before", "after"):
            code = export_revision(args.before, work / "code") if label == "before" else None
            server = prepare_server(label, code, slide_path, work, password, secret)
            console.print(f"measuring {label}")
            m, lat = measure_server(server, slide, args, password, work)
            memory += m
            latency += lat
    finally:
        subprocess.run(["rm", "-rf", str(work)], check=False)
    add_ratios(latency)
    print_table(f"Server memory, {BIG_REGION}x{BIG_REGION} IIIF renders", MEMORY_COLUMNS, memory)
    print_table(
        f"Latency: {args.viewers} viewers x {args.rate:g} tiles/s + worklist {CASES_RATE:g}/s, "
        f"idle vs "
        f"{args.flood} IIIF clients",
        LATENCY_COLUMNS,
        latency,
    )
    goals = print_goals(memory, latency)
    write_json(
        args.json,
        {
            "benchmark": "iiif",
            "slide": slide,
            "before": args.before,
            "duration_s": args.duration,
            "repeats": args.repeats,
            "flood_clients": args.flood,
            "viewers": args.viewers,
            "rate_per_viewer": args.rate,
            "memory": memory,
            "latency": latency,
            "goals": {"ratio": GOAL_RATIO, "met": goals},
        },
    )


if __name__ == "__main__":
    main()
