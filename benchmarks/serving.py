"""Tiles over HTTP: the service's pyramid and on-the-fly tiles against a static-file ceiling.

`python -m benchmarks.serving [SLIDE] [--clients 1 32] [--duration S] [--json PATH]`

Three servers, each its own process on 127.0.0.1, run one after the other:

- `pyramid`: `slidebridge serve` on a data directory where the slide is registered
  and its pyramid was built beforehand by `slidebridge worker --burst`;
- `on-the-fly`: `slidebridge serve` on a second data directory where the same slide
  is registered and its build job is never run, so every tile comes from the source;
- `static`: the same Deep Zoom tiles written by `slidebridge tile` as plain files,
  served by uvicorn + Starlette `StaticFiles`: the ceiling.

Both service instances run with `SLIDEBRIDGE_EMBEDDED_WORKERS=0`: nothing builds in
the background while tiles are measured, and the on-the-fly slide stays unbuilt
however long the run takes. The service names a tile's source in its ETag, and
every answer is checked against the row it is counted in.

Why uvicorn + StaticFiles as the ceiling rather than nginx: it is the same HTTP
stack as the service (uvicorn with httptools and uvloop, one process, access log at
info as `slidebridge serve` runs it), so the ratio measures what the tile route costs
(token check, access rule, pack lookup) over serving the same bytes from files; and
it needs nothing outside the virtualenv. On this 2-core machine the Python load
generator shares the cores with the server, so an nginx ceiling would mostly measure
the client.

The tile list is drawn as `benchmarks.onthefly` draws it (a screenful per large
level, all of the small ones) from a seeded RNG, and every server gets the same list.
"""

from __future__ import annotations

import argparse
import re
import secrets
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil

from benchmarks import slides
from benchmarks.contenders import _slidebridge
from benchmarks.loadgen import DRIVERS, LoadResult, run_load
from benchmarks.measure import run_measured
from benchmarks.onthefly import _percentile, draw_tiles
from benchmarks.report import Column, clean_env, console, print_goal, print_table, write_json
from benchmarks.synthetic_slide import SyntheticSlideSpec

SOURCES = ("static", "pyramid", "on-the-fly")
CEILING = "static"
GOAL_CLIENTS = 32
GOAL_PYRAMID_RATIO = 0.5
GOAL_PYRAMID_P99_MS = 20.0
#: New slides are served on the fly for their first minutes (progressive ingest): 32 viewers
#: panning at 20 tiles/s each (`--clients 32 --rate 20`) must stay under this p99.
GOAL_ONTHEFLY_P99_MS = 50.0
SITE = "BENCH"
USER = "bench"
READY_TIMEOUT_S = 60.0
#: Setup steps (registration, the pyramid build, the static tiles) on a full-size slide.
SETUP_TIMEOUT_S = 1800.0

COLUMNS = [
    Column("source", "source"),
    Column("clients", "clients", "d"),
    Column("requests", "requests", "d"),
    Column("tiles/s", "tiles_per_s", ".0f"),
    Column("p50 ms", "p50_ms", ".2f"),
    Column("p99 ms", "p99_ms", ".2f"),
    Column("max ms", "max_ms", ".1f"),
    Column("errors", "errors", "d"),
    Column("x ceiling", "ratio_to_ceiling", ".2f"),
    Column("server CPU", "server_cores", ".2f"),
    Column("client CPU", "client_cores", ".2f"),
    Column("KB/tile", "kb_per_tile", ".1f"),
]


@dataclass(frozen=True)
class Server:
    """A server to load: how to start it and which URL paths serve the tiles."""

    source: str
    argv: list[str]
    env: dict[str, str]
    #: Tile path for (z, col, row).
    path_template: str
    #: Text every ETag of this source contains; None where the server does not say.
    etag_marker: str | None = None
    slide_id: str | None = None
    #: Status the slide must have in the service before measuring: "ready" or "not ready".
    expect_status: str | None = None


# --- setup -----------------------------------------------------------------------


def _run(argv: list[str], env: dict[str, str], stdin: str | None = None) -> str:
    done = subprocess.run(
        argv, input=stdin, capture_output=True, text=True, env=env, timeout=SETUP_TIMEOUT_S
    )
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv[1:3])} failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout


def service_env(data_dir: Path, secret_key: str) -> dict[str, str]:
    # Nothing SLIDEBRIDGE_* from the caller's shell (a PostgreSQL or Redis URL would
    # send the benchmark's slides into a real deployment).
    env = {k: v for k, v in clean_env().items() if not k.startswith("SLIDEBRIDGE_")}
    env |= {
        "SLIDEBRIDGE_DATA_DIR": str(data_dir),
        "SLIDEBRIDGE_ENVIRONMENT": "production",
        "SLIDEBRIDGE_SECRET_KEY": secret_key,
        "SLIDEBRIDGE_EMBEDDED_WORKERS": "0",
        "SLIDEBRIDGE_TOKEN_MINUTES": "240",
    }
    return env


def register(slide: Path, env: dict[str, str], password: str) -> str:
    """Site, admin user and slide in a fresh data directory; the slide's id."""
    cli = _slidebridge()
    _run([cli, "site", "add", SITE, "--name", "Benchmark"], env)
    _run([cli, "user", "add", USER, "--role", "admin", "--password-stdin"], env, password + "\n")
    out = _run([cli, "slide", "add", str(slide), "--site", SITE], env)
    match = re.search(r"slide ([0-9a-f-]{36}) ", out)
    if match is None:
        raise SystemExit(f"cannot find the slide id in: {out.strip()}")
    return match.group(1)


def build_pyramid(env: dict[str, str]) -> float:
    """Run the queued pyramid job to completion, outside any server; its wall time."""
    m = run_measured([_slidebridge(), "worker", "--burst"], env=env, timeout_s=SETUP_TIMEOUT_S)
    if m.returncode != 0:
        raise SystemExit(f"slidebridge worker --burst failed: {m.stderr.strip()[-500:]}")
    return m.wall_s


def write_static(slide: Path, out: Path) -> tuple[str, float]:
    """`slidebridge tile` into `out`; the tile path template and the wall time."""
    m = run_measured([_slidebridge(), "tile", str(slide), str(out)], timeout_s=SETUP_TIMEOUT_S)
    if m.returncode != 0:
        raise SystemExit(f"slidebridge tile failed: {m.stderr.strip()[-500:]}")
    (dzi,) = out.glob("*.dzi")
    files = out / f"{dzi.stem}_files"
    suffix = next(p for p in files.rglob("*") if p.is_file()).suffix
    return f"/{dzi.stem}_files/{{z}}/{{col}}_{{row}}{suffix}", m.wall_s


# --- running a server ------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def running(argv: list[str], env: dict[str, str], log_path: Path) -> Iterator[psutil.Process]:
    """Start a server, wait for /healthz, yield its process, stop it (by its own pid)."""
    with log_path.open("wb") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            _wait_ready(argv, proc, log_path)
            yield psutil.Process(proc.pid)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _wait_ready(argv: list[str], proc: subprocess.Popen[bytes], log_path: Path) -> None:
    base = _base_url(argv)
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited ({proc.returncode}): {_tail(log_path)}")
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"server not ready after {READY_TIMEOUT_S:.0f} s: {_tail(log_path)}")


def _base_url(argv: list[str]) -> str:
    return f"http://127.0.0.1:{argv[argv.index('--port') + 1]}"


def _tail(path: Path, lines: int = 5) -> str:
    return " | ".join(path.read_text(errors="replace").strip().splitlines()[-lines:])


def sign_in(base: str, server: Server, password: str) -> dict[str, str]:
    """Bearer header for the service, after checking the slide is in the state we measure."""
    answer = httpx.post(
        f"{base}/api/auth/token", data={"username": USER, "password": password}, timeout=30
    )
    answer.raise_for_status()
    headers = {"Authorization": f"Bearer {answer.json()['access_token']}"}
    slide = httpx.get(f"{base}/api/slides/{server.slide_id}", headers=headers, timeout=30)
    slide.raise_for_status()
    status = slide.json()["status"]
    if (server.expect_status == "ready") != (status == "ready"):
        raise SystemExit(f"{server.source}: slide is {status!r}, expected {server.expect_status}")
    # What a viewer does first; also the audited "slide opened" event.
    httpx.get(f"{base}/dzi/{server.slide_id}.dzi", headers=headers, timeout=30).raise_for_status()
    return headers


# --- measuring -------------------------------------------------------------------


def _cpu_s(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return float(times.user + times.system)


def summarize(source: str, result: LoadResult, server_cpu_s: float) -> dict[str, Any]:
    ms = sorted(s * 1e3 for s in result.latencies_s)
    ok = len(ms)
    row: dict[str, Any] = {
        "source": source,
        "clients": result.clients,
        "requests": result.requests,
        "ok": ok,
        "errors": result.errors,
        "error_samples": result.error_samples,
        "wall_s": result.wall_s,
        "tiles_per_s": ok / result.wall_s if result.wall_s else None,
        "server_cores": server_cpu_s / result.wall_s if result.wall_s else None,
        "client_cores": result.client_cpu_s / result.wall_s if result.wall_s else None,
        "kb_per_tile": result.bytes / ok / 1e3 if ok else None,
        "list_exhausted": result.exhausted,
    }
    if ms:
        row |= {
            "mean_ms": statistics.fmean(ms),
            "p50_ms": _percentile(ms, 50),
            "p90_ms": _percentile(ms, 90),
            "p99_ms": _percentile(ms, 99),
            "max_ms": ms[-1],
        }
    return row


def measure_server(
    server: Server,
    tiles: list[tuple[int, int, int]],
    warmup_tiles: list[tuple[int, int, int]],
    args: argparse.Namespace,
    password: str,
    log_path: Path,
) -> list[dict[str, Any]]:
    paths = [server.path_template.format(z=z, col=c, row=r) for z, c, r in tiles]
    warm_paths = [server.path_template.format(z=z, col=c, row=r) for z, c, r in warmup_tiles]
    base = _base_url(server.argv)
    rows = []
    with running(server.argv, server.env, log_path) as proc:
        headers = sign_in(base, server, password) if server.slide_id else {}
        if not headers:
            # The same header on every request, so the ceiling parses as much as the service.
            headers = {"Authorization": "Bearer " + "x" * 43}
        #: The server's CPU counter as each measurement (after its warm-up) starts.
        cpu_at_start: list[float] = []
        for clients in args.clients:
            console.print(f"  {server.source}: {clients} client(s), {args.duration:g} s")
            warm, result = run_load(
                base,
                paths,
                clients=clients,
                duration_s=args.duration,
                headers=headers,
                driver=args.driver,
                etag_marker=server.etag_marker,
                warmup_paths=warm_paths,
                warmup_s=args.warmup,
                before_measuring=lambda: cpu_at_start.append(_cpu_s(proc)),
                rate=args.rate,
            )
            row = summarize(server.source, result, _cpu_s(proc) - cpu_at_start[-1])
            row["warmup_requests"] = warm.requests
            row["warmup_errors"] = warm.errors
            rows.append(row)
    return rows


def add_ratios(rows: list[dict[str, Any]]) -> None:
    ceiling = {r["clients"]: r.get("tiles_per_s") for r in rows if r["source"] == CEILING}
    for row in rows:
        top = ceiling.get(row["clients"])
        ours = row.get("tiles_per_s")
        row["ratio_to_ceiling"] = ours / top if ours is not None and top else None


def _row(rows: list[dict[str, Any]], source: str, clients: int) -> dict[str, Any] | None:
    return next((r for r in rows if r["source"] == source and r["clients"] == clients), None)


def print_goals(rows: list[dict[str, Any]]) -> dict[str, bool | None]:
    pyramid = _row(rows, "pyramid", GOAL_CLIENTS)
    onthefly = _row(rows, "on-the-fly", GOAL_CLIENTS)
    at = f"at {GOAL_CLIENTS} clients"

    def check(
        row: dict[str, Any] | None, key: str, ok: Any, fmt: str, unit: str = ""
    ) -> tuple[bool | None, str]:
        value = None if row is None or row.get("errors") else row.get(key)
        if value is None:
            return None, "no clean result"
        return bool(ok(value)), format(value, fmt) + unit

    goals: dict[str, bool | None] = {}
    met, detail = check(pyramid, "ratio_to_ceiling", lambda v: v >= GOAL_PYRAMID_RATIO, ".2f")
    print_goal(f"pyramid >= {GOAL_PYRAMID_RATIO:.0%} of the static ceiling {at}", met, detail)
    goals["pyramid_ratio"] = met
    met, detail = check(pyramid, "p99_ms", lambda v: v < GOAL_PYRAMID_P99_MS, ".2f", " ms")
    print_goal(f"pyramid p99 < {GOAL_PYRAMID_P99_MS:.0f} ms {at}", met, detail)
    goals["pyramid_p99"] = met
    met, detail = check(onthefly, "p99_ms", lambda v: v < GOAL_ONTHEFLY_P99_MS, ".2f", " ms")
    print_goal(f"on-the-fly p99 < {GOAL_ONTHEFLY_P99_MS:.0f} ms {at}", met, detail)
    goals["onthefly_p99"] = met
    return goals


def littles_law_floor(p99_ms: float, clients: int = GOAL_CLIENTS) -> float:
    """Tiles/s below which `clients` closed-loop clients cannot see a p99 under `p99_ms`.

    Clients that ask again as soon as they are answered keep `clients` requests in
    flight, so the mean latency is clients / throughput; the p99 is at least the mean.
    """
    return clients / (p99_ms / 1e3)


def print_notes(rows: list[dict[str, Any]], rate: float | None) -> None:
    for row in rows:
        where = f"{row['source']} x{row['clients']}"
        if row["errors"]:
            console.print(f"{where}: {row['errors']} errors, e.g. {row['error_samples']}")
        if row["list_exhausted"]:
            console.print(f"{where}: the tile list ran out before the duration; raise --tiles")
        client, server = row.get("client_cores"), row.get("server_cores")
        if client is not None and server is not None and client > server:
            console.print(
                f"{where}: the client used more CPU ({client:.2f} cores) than the server "
                f"({server:.2f}): this row may measure the load generator"
            )
    if rate is not None:
        console.print(f"note: paced clients, {rate:g} tiles/s each (a panning viewer)")
        return
    floor = littles_law_floor(GOAL_PYRAMID_P99_MS)
    ceiling = _row(rows, CEILING, GOAL_CLIENTS)
    top = ceiling.get("tiles_per_s") if ceiling else None
    console.print(
        f"note: {GOAL_CLIENTS} clients without think time keep {GOAL_CLIENTS} requests in "
        f"flight, so p99 < {GOAL_PYRAMID_P99_MS:.0f} ms needs at least {floor:.0f} tiles/s"
        + (f"; the static ceiling served {top:.0f}" if top else "")
    )


# --- the ceiling's server (runs in its own process) -------------------------------


def serve_static(root: Path, port: int) -> None:
    """uvicorn + Starlette StaticFiles, configured as `slidebridge serve` runs uvicorn."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles

    async def healthz(request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    app = Starlette(routes=[Route("/healthz", healthz), Mount("/", StaticFiles(directory=root))])
    uvicorn.run(app, host="127.0.0.1", port=port, proxy_headers=True, log_level="info")


# --- main ------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("slide", nargs="?", type=Path, help="slide (default: synthetic)")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, GOAL_CLIENTS])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measurement")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up before each")
    parser.add_argument("--tiles", type=int, default=30000, help="length of the tile list")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--driver", choices=DRIVERS, default="aiohttp")
    parser.add_argument("--only", nargs="+", choices=SOURCES, help="measure only these")
    parser.add_argument("--json", type=Path, default=slides.BENCH_DIR / "serving.json")
    parser.add_argument("--width", type=int, default=SyntheticSlideSpec.width)
    parser.add_argument("--height", type=int, default=SyntheticSlideSpec.height)
    parser.add_argument("--keep", action="store_true", help="keep the data directories")
    parser.add_argument(
        "--rate",
        type=float,
        help="tiles/s per client, like a panning viewer (default: closed loop, no pause)",
    )
    # Internal: how the parent starts the ceiling's server in its own process.
    parser.add_argument("--static-root", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.static_root:
        serve_static(args.static_root, args.port)
        return

    slide_path, slide = slides.prepare(args.slide, args.width, args.height)
    tiles = draw_tiles(slide["width"], slide["height"], args.tiles, args.seed)
    # Warm-up tiles from another seed: they open handles and connections without
    # putting the measured tiles into OpenSlide's cache.
    warmup_tiles = draw_tiles(slide["width"], slide["height"], args.tiles, args.seed + 1)
    wanted = args.only or SOURCES
    console.print(f"slide {slide_path}: {slide['width']}x{slide['height']}, sources {wanted}")

    work = slides.work_dir("serving-")
    password = secrets.token_urlsafe(24)
    secret_key = secrets.token_urlsafe(48)
    setup: dict[str, Any] = {"work_dir": str(work)}
    servers: list[Server] = []
    try:
        if "static" in wanted:
            console.print("writing the static tiles (slidebridge tile)")
            template, setup["static_tiles_s"] = write_static(slide_path, work / "static")
            port = free_port()
            argv = [sys.executable, "-m", "benchmarks.serving", "--static-root"]
            servers.append(
                Server(
                    "static",
                    [*argv, str(work / "static"), "--port", str(port)],
                    clean_env(),
                    template,
                )
            )
        for source in ("pyramid", "on-the-fly"):
            if source not in wanted:
                continue
            data_dir = (work / source).resolve()
            env = service_env(data_dir, secret_key)
            slide_id = register(slide_path, env, password)
            if source == "pyramid":
                console.print("building the pyramid (slidebridge worker --burst)")
                setup["pyramid_build_s"] = build_pyramid(env)
            port = free_port()
            servers.append(
                Server(
                    source,
                    [_slidebridge(), "serve", "--host", "127.0.0.1", "--port", str(port)],
                    env,
                    f"/dzi/{slide_id}_files/{{z}}/{{col}}_{{row}}.jpeg",
                    etag_marker="-pyramid-" if source == "pyramid" else "-live-",
                    slide_id=slide_id,
                    expect_status="ready" if source == "pyramid" else "not ready",
                )
            )
        rows: list[dict[str, Any]] = []
        for server in sorted(servers, key=lambda s: SOURCES.index(s.source)):
            console.print(f"measuring {server.source}")
            log_path = work / f"{server.source}.log"
            rows += measure_server(server, tiles, warmup_tiles, args, password, log_path)
    finally:
        if not args.keep:
            _remove_tree(work)

    add_ratios(rows)
    print_table(f"Tiles over HTTP: {slide_path.name} ({args.driver})", COLUMNS, rows)
    print_notes(rows, args.rate)
    goals = print_goals(rows)
    write_json(
        args.json,
        {
            "benchmark": "serving",
            "slide": slide,
            "driver": args.driver,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "rate_per_client": args.rate,
            "tiles_listed": len(tiles),
            "seed": args.seed,
            "levels_drawn": {
                z: sum(1 for t in tiles if t[0] == z) for z in sorted({t[0] for t in tiles})
            },
            "static_server": "uvicorn + starlette.staticfiles.StaticFiles, one process",
            "setup": setup,
            "goals": {
                "clients": GOAL_CLIENTS,
                "pyramid_ratio": GOAL_PYRAMID_RATIO,
                "pyramid_p99_ms": GOAL_PYRAMID_P99_MS,
                "onthefly_p99_ms": GOAL_ONTHEFLY_P99_MS,
                "pyramid_p99_needs_tiles_per_s": littles_law_floor(GOAL_PYRAMID_P99_MS),
                "met": goals,
            },
            "rows": rows,
        },
    )


def _remove_tree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


if __name__ == "__main__":
    main()
