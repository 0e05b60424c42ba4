"""Several web processes behind nginx: tiles, a signed report's fan-out, event latency.

`python -m benchmarks.scaleout [SLIDE] [--clients 32] [--duration S] [--screens 500]
[--events 200] [--postgres URL] [--redis URL] [--json PATH]`

A hub as `deploy/` runs it, on this machine: Debian's nginx with
`deploy/nginx/slidebridge.conf` (TLS, the benchmark's own self-signed certificate),
`slidebridge serve` processes on PostgreSQL (a private schema of `--postgres`) and
Redis (a private channel and queue), one data directory; the slide registered and its
pyramid built beforehand (`slidebridge worker --burst`).

1. Tiles through nginx (`--clients` keep-alive connections, closed loop, the tile list
   of `benchmarks.serving`): nginx serving the same tiles as static files (written by
   `slidebridge tile`, the ceiling), nginx in front of one web process, in front of two.
   Ratios are against the one-process row and the static row of the same run.
2. Fan-out: `--screens` operating-room result screens hold the site's event stream
   open through nginx (so spread over both processes); a case's slide arrives, the
   pathologist claims and signs; measured from sending the signing request to the
   last screen holding the signed snapshot.
3. Event latency across processes: a pathologist shares a view through process A
   (`POST /api/slides/{id}/view`), a follower's stream on process B receives it;
   one at a time, `--events` of them. The same with the follower on A is the anchor
   (the request and the stream without the bus).

Every client runs in this process and shares the 2 cores with nginx and the servers:
the numbers include the load generator's own delays.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import secrets
import shutil
import statistics
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import psutil

from benchmarks import slides
from benchmarks.contenders import _slidebridge
from benchmarks.frozen_section import REQUEST, tus_upload
from benchmarks.loadgen import run_load
from benchmarks.nginx_proxy import Nginx
from benchmarks.onthefly import _percentile, draw_tiles
from benchmarks.report import Column, console, print_goal, print_table, write_json
from benchmarks.serving import (
    _run,
    build_pyramid,
    free_port,
    running,
    service_env,
    write_static,
)
from benchmarks.synthetic_slide import SyntheticSlideSpec

POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
REDIS_URL = "redis://127.0.0.1:6379/0"
SITE = "BENCH"
GOAL_TWO_OVER_ONE = 1.6
GOAL_FANOUT_S = 1.0
GOAL_EVENT_P99_MS = 200.0
UPSTREAM_HEADER = "    add_header X-Upstream $upstream_addr always;\n"

TILE_COLUMNS = [
    Column("served by", "source"),
    Column("clients", "clients", "d"),
    Column("tiles/s", "tiles_per_s", ".0f"),
    Column("p50 ms", "p50_ms", ".1f"),
    Column("p99 ms", "p99_ms", ".1f"),
    Column("errors", "errors", "d"),
    Column("x one process", "ratio_to_one", ".2f"),
    Column("x nginx static", "ratio_to_static", ".2f"),
]
EVENT_COLUMNS = [
    Column("stream on", "where"),
    Column("events", "events", "d"),
    Column("p50 ms", "p50_ms", ".1f"),
    Column("p99 ms", "p99_ms", ".1f"),
    Column("max ms", "max_ms", ".1f"),
]


# --- the hub -----------------------------------------------------------------------


@contextmanager
def postgres_schema(url: str) -> Iterator[str]:
    """A private schema of `url` for the benchmark; the URL that uses it."""
    from app.core.db import Database

    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = Database(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with admin.engine.begin() as connection:
        connection.exec_driver_sql(f"CREATE SCHEMA {schema}")
    try:
        yield f"{url}?options=-csearch_path%3D{schema}"
    finally:
        with admin.engine.begin() as connection:
            connection.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()


def prepare_hub(slide: Path, env: dict[str, str], password: str) -> str:
    """Site, users and the slide with its pyramid; the slide's id."""
    cli = _slidebridge()
    _run([cli, "site", "add", SITE, "--name", "Benchmark"], env)
    for name, role, where in (
        ("tech", "technician", ["--site", SITE]),
        ("surgeon", "surgeon", ["--site", SITE]),
        ("path", "pathologist", ["--covers", SITE]),
    ):
        _run([cli, "user", "add", name, "--role", role, *where, "--password-stdin"], env,
             password + "\n")  # fmt: skip
    out = _run([cli, "slide", "add", str(slide), "--site", SITE], env)
    match = re.search(r"slide ([0-9a-f-]{36}) ", out)
    if match is None:
        raise SystemExit(f"cannot find the slide id in: {out.strip()}")
    console.print("building the pyramid (slidebridge worker --burst)")
    build_pyramid(env)
    return match.group(1)


def token(base: str, user: str, password: str) -> str:
    answer = httpx.post(f"{base}/api/auth/token", data={"username": user, "password": password},
                        timeout=60, verify=False)  # fmt: skip  # noqa: S501 - our own test certificate
    answer.raise_for_status()
    return f"Bearer {answer.json()['access_token']}"


# --- 1. tiles ------------------------------------------------------------------------


def measure_tiles(
    source: str, base: str, paths: list[str], warm: list[str], auth: str, args: argparse.Namespace
) -> dict[str, Any]:
    console.print(f"  tiles: {source}, {args.clients} clients, {args.duration:g} s")
    _, result = run_load(
        base, paths, clients=args.clients, duration_s=args.duration,
        headers={"Authorization": auth}, warmup_paths=warm, warmup_s=args.warmup, verify=False,
    )  # fmt: skip
    ms = sorted(s * 1e3 for s in result.latencies_s)
    row: dict[str, Any] = {
        "source": source, "clients": args.clients, "requests": result.requests,
        "errors": result.errors, "error_samples": result.error_samples,
        "tiles_per_s": len(ms) / result.wall_s if result.wall_s else None,
        "client_cores": result.client_cpu_s / result.wall_s if result.wall_s else None,
    }  # fmt: skip
    if ms:
        row |= {"p50_ms": _percentile(ms, 50), "p99_ms": _percentile(ms, 99), "max_ms": ms[-1]}
    return row


# --- 2. fan-out to result screens ------------------------------------------------------


class Screens:
    """`count` result screens on the site's stream through nginx, on one event loop in a
    thread; each notes when the case it waits for arrives with the status it waits for."""

    def __init__(self, base: str, auth: str, count: int) -> None:
        self.base, self.auth, self.count = base, auth, count
        self.want: tuple[str, str] | None = None
        self.connected = 0
        self.upstreams: dict[str, int] = {}
        self.hits: list[float] = []
        self.all_ready = threading.Event()
        self.all_hit = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_until_complete, args=(self._run(),),
                                        daemon=True)  # fmt: skip
        self._thread.start()

    async def _run(self) -> None:
        import aiohttp

        connector = aiohttp.TCPConnector(limit=0, ssl=False)
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=60)
        async with aiohttp.ClientSession(self.base, connector=connector, timeout=timeout) as http:
            with contextlib.suppress(asyncio.CancelledError):  # close() ends the screens
                await asyncio.gather(*(self._screen(http) for _ in range(self.count)))

    async def _screen(self, http: Any) -> None:
        path = f"/api/sites/{SITE}/events"
        async with http.get(path, headers={"Authorization": self.auth}) as response:
            upstream = response.headers.get("X-Upstream", "?")
            self.upstreams[upstream] = self.upstreams.get(upstream, 0) + 1
            waiting = True
            async for raw in response.content:
                line = raw.decode().rstrip("\n")
                if line.startswith("event: ready"):
                    self.connected += 1
                    if self.connected == self.count:
                        self.all_ready.set()
                elif line.startswith("data: ") and waiting and self.want is not None:
                    case = json.loads(line[6:]).get("case")
                    if case and (case["id"], case["status"]) == self.want:
                        self.hits.append(time.perf_counter())
                        waiting = False
                        if len(self.hits) == self.count:
                            self.all_hit.set()
                        return

    def close(self) -> None:
        for task in asyncio.all_tasks(self._loop):
            self._loop.call_soon_threadsafe(task.cancel)


def fan_out(
    base: str, tokens: dict[str, str], password: str, screens: int, slide: Path
) -> dict[str, Any]:
    with httpx.Client(base_url=base, timeout=120, verify=False) as http:  # noqa: S501
        tech = {"Authorization": tokens["tech"]}
        created = http.post("/api/cases", json={**REQUEST, "site": SITE}, headers=tech)
        created.raise_for_status()
        case_id = created.json()["id"]
        tus_upload(http, tokens["tech"], slide.read_bytes() + uuid.uuid4().bytes, case_id)
        deadline = time.monotonic() + 120
        while http.get(f"/api/cases/{case_id}", headers=tech).json()["status"] != "ready":
            if time.monotonic() > deadline:
                raise RuntimeError("the case never became ready")
            time.sleep(0.1)
        console.print(f"  fan-out: connecting {screens} result screens")
        crowd = Screens(base, tokens["surgeon"], screens)
        try:
            if not crowd.all_ready.wait(300):
                raise RuntimeError(f"only {crowd.connected} of {screens} screens connected")
            crowd.want = (case_id, "reported")
            path = {"Authorization": tokens["path"]}
            http.post(f"/api/cases/{case_id}/claim", headers=path).raise_for_status()
            sent = time.perf_counter()
            http.post(f"/api/cases/{case_id}/report", headers=path,
                      json={"category": "benign", "diagnosis": "Benign.", "password": password},
                      ).raise_for_status()  # fmt: skip
            answered = time.perf_counter()
            if not crowd.all_hit.wait(120):
                raise RuntimeError(f"only {len(crowd.hits)} of {screens} screens got the report")
        finally:
            crowd.close()
    after = sorted(hit - sent for hit in crowd.hits)
    return {
        "screens": screens,
        "per_process": crowd.upstreams,
        "sign_request_s": answered - sent,
        "first_s": after[0],
        "median_s": statistics.median(after),
        "last_s": after[-1],
    }


# --- 3. event latency across processes -------------------------------------------------


def event_latency(
    publish_base: str, stream_base: str, where: str, slide_id: str, auth: str, count: int
) -> dict[str, Any]:
    received: dict[str, float] = {}
    arrived = threading.Condition()
    ready = threading.Event()

    def follow() -> None:
        with contextlib.suppress(httpx.HTTPError):  # the servers stop at the end of the run
            _follow()

    def _follow() -> None:
        timeout = httpx.Timeout(30, read=None)
        with (
            httpx.Client(base_url=stream_base, timeout=timeout) as client,
            client.stream("GET", f"/api/slides/{slide_id}/events",
                          headers={"Authorization": auth}) as response,
        ):  # fmt: skip
            for line in response.iter_lines():
                if line.startswith("event: ready"):
                    ready.set()
                elif line.startswith("data: ") and '"client"' in line:
                    marker = json.loads(line[6:]).get("client")
                    with arrived:
                        received[marker] = time.perf_counter()
                        arrived.notify_all()

    threading.Thread(target=follow, daemon=True).start()
    if not ready.wait(60):
        raise RuntimeError("the follower's stream did not open")
    latencies: list[float] = []
    with httpx.Client(base_url=publish_base, timeout=30) as http:
        for index in range(count):
            marker = f"bench-{where}-{index}"
            view = {"center": [100.0, 100.0 + index], "zoom": 1.0, "client": marker}
            sent = time.perf_counter()
            http.post(f"/api/slides/{slide_id}/view", json=view,
                      headers={"Authorization": auth}).raise_for_status()  # fmt: skip
            with arrived:
                if not arrived.wait_for(lambda m=marker: m in received, timeout=30):  # type: ignore[misc]
                    raise RuntimeError(f"event {index} never reached the stream on {where}")
            latencies.append((received[marker] - sent) * 1e3)
            time.sleep(0.02)  # a presenter sends at most every 100 ms; keep the queue empty
    ms = sorted(latencies)
    return {"where": where, "events": count, "p50_ms": _percentile(ms, 50),
            "p99_ms": _percentile(ms, 99), "max_ms": ms[-1]}  # fmt: skip


# --- main ------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("slide", nargs="?", type=Path, help="slide (default: synthetic)")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per tile run")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--tiles", type=int, default=30000)
    parser.add_argument("--screens", type=int, default=500)
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--postgres", default=POSTGRES_URL)
    parser.add_argument("--redis", default=REDIS_URL)
    parser.add_argument("--width", type=int, default=SyntheticSlideSpec.width)
    parser.add_argument("--height", type=int, default=SyntheticSlideSpec.height)
    parser.add_argument("--json", type=Path, default=slides.BENCH_DIR / "scaleout.json")
    args = parser.parse_args()

    load_before = os.getloadavg()
    slide_path, slide = slides.prepare(args.slide, args.width, args.height)
    tiles = draw_tiles(slide["width"], slide["height"], args.tiles, 1)
    warm_tiles = draw_tiles(slide["width"], slide["height"], args.tiles, 2)
    small = Path(__file__).resolve().parents[1] / ".." / "shared" / "slides" / "aperio"
    case_slide = small / "CMU-1-Small-Region.svs"
    work = slides.work_dir("scaleout-")
    password = secrets.token_urlsafe(24)
    channel = f"bench_{uuid.uuid4().hex[:12]}"
    with postgres_schema(args.postgres) as database_url, ExitStack() as stack:
        env = service_env(work / "data", secrets.token_urlsafe(48))
        env |= {
            "SLIDEBRIDGE_DATABASE_URL": database_url,
            "SLIDEBRIDGE_EVENTS_CHANNEL": channel,
            "SLIDEBRIDGE_QUEUE_NAME": channel,
            "SLIDEBRIDGE_STREAMS_PER_USER": "1000",
        }
        slide_id = prepare_hub(slide_path, env, password)
        console.print("writing the static tiles (slidebridge tile)")
        template, _ = write_static(slide_path, work / "static")
        static_location = (
            UPSTREAM_HEADER + f"    location /bench-static/ {{ alias {work / 'static'}/; }}\n"
        )
        env["SLIDEBRIDGE_REDIS_URL"] = args.redis
        ports = [free_port(), free_port()]
        web: list[psutil.Process] = []
        for index, port in enumerate(ports):
            argv = [_slidebridge(), "serve", "--host", "127.0.0.1", "--port", str(port)]
            web.append(stack.enter_context(running(argv, env, work / f"web{index}.log")))
        direct = [f"http://127.0.0.1:{port}" for port in ports]
        tokens = {user: token(direct[0], user, password) for user in ("tech", "surgeon", "path")}
        paths = [f"/dzi/{slide_id}_files/{z}/{c}_{r}.jpeg" for z, c, r in tiles]
        warm = [f"/dzi/{slide_id}_files/{z}/{c}_{r}.jpeg" for z, c, r in warm_tiles]
        static_paths = ["/bench-static" + template.format(z=z, col=c, row=r) for z, c, r in tiles]
        static_warm = [
            "/bench-static" + template.format(z=z, col=c, row=r) for z, c, r in warm_tiles
        ]

        rows: list[dict[str, Any]] = []
        one = Nginx(work / "nginx-one", ports[:1], static_location)
        one.start()
        try:
            rows.append(measure_tiles("nginx static files", one.base, static_paths, static_warm,
                                      tokens["path"], args))  # fmt: skip
            rows.append(measure_tiles("1 web process", one.base, paths, warm, tokens["path"], args))
        finally:
            one.stop()
        two = Nginx(work / "nginx-two", ports, static_location)
        two.start()
        stack.callback(two.stop)
        rows.append(measure_tiles("2 web processes", two.base, paths, warm, tokens["path"], args))
        base = {row["source"]: row.get("tiles_per_s") or 0.0 for row in rows}
        for row in rows:
            one_rate, static_rate = base["1 web process"], base["nginx static files"]
            row["ratio_to_one"] = row["tiles_per_s"] / one_rate if one_rate else None
            row["ratio_to_static"] = row["tiles_per_s"] / static_rate if static_rate else None

        fanout = fan_out(two.base, tokens, password, args.screens, case_slide)
        events = [
            event_latency(
                direct[0], direct[1], "other process", slide_id, tokens["path"], args.events
            ),
            event_latency(
                direct[0], direct[0], "same process", slide_id, tokens["path"], args.events
            ),
        ]
    shutil.rmtree(work, ignore_errors=True)

    print_table(f"Tiles through nginx: {slide_path.name}", TILE_COLUMNS, rows)
    ms = {key: fanout[key] * 1e3 for key in ("sign_request_s", "first_s", "median_s", "last_s")}
    console.print(
        f"fan-out: {fanout['screens']} screens {fanout['per_process']}: signing answered after "
        f"{ms['sign_request_s']:.0f} ms; the report on the first screen after "
        f"{ms['first_s']:.0f} ms, median {ms['median_s']:.0f} ms, last {ms['last_s']:.0f} ms"
    )
    print_table("Event latency: shared view published on process A", EVENT_COLUMNS, events)
    two_over_one = next(r for r in rows if r["source"] == "2 web processes")["ratio_to_one"]
    cross = events[0]
    goals = {
        "two_over_one": two_over_one is not None and two_over_one >= GOAL_TWO_OVER_ONE,
        "fanout": fanout["last_s"] < GOAL_FANOUT_S,
        "event_p99": cross["p99_ms"] < GOAL_EVENT_P99_MS,
    }
    print_goal(f"two processes >= {GOAL_TWO_OVER_ONE}x one on tiles", goals["two_over_one"],
               f"{two_over_one:.2f}x" if two_over_one else "no result")  # fmt: skip
    print_goal(f"fan-out to {fanout['screens']} screens < {GOAL_FANOUT_S:g} s", goals["fanout"],
               f"{fanout['last_s']:.3f} s")  # fmt: skip
    print_goal(f"cross-process event p99 < {GOAL_EVENT_P99_MS:.0f} ms", goals["event_p99"],
               f"{cross['p99_ms']:.1f} ms")  # fmt: skip
    load = {"before": load_before, "after": os.getloadavg()}
    console.print(
        f"note: this machine has {psutil.cpu_count()} cores shared by nginx, both web processes, "
        "PostgreSQL, Redis and every client of this benchmark; load average "
        f"{load['before'][0]:.1f} before, {load['after'][0]:.1f} after"
    )
    write_json(args.json, {
        "benchmark": "scaleout", "slide": slide, "clients": args.clients,
        "duration_s": args.duration, "load_average": load,
        "tiles": rows, "fanout": fanout, "events": events,
        "goals": {"two_over_one": GOAL_TWO_OVER_ONE, "fanout_s": GOAL_FANOUT_S,
                  "event_p99_ms": GOAL_EVENT_P99_MS, "met": goals},
    })  # fmt: skip


if __name__ == "__main__":
    main()
