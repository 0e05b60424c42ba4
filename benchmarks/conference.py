"""A teaching conference: from the teacher's pan to the last follower's view.

`python -m benchmarks.conference [SLIDE] [--followers 100] [--pans 200] [--json PATH]`

Runs `slidebridge serve` (its own process, production settings) with a teaching
collection holding a de-identified copy of SLIDE, starts a conference, and measures
twice in one run: with one follower (the anchor) and with `--followers` followers.
Each follower is a protocol client: it joins (`POST .../join`) and holds the
conference's event stream open (one aiohttp connection each, all in this process).
The teacher then posts `--pans` views, one every `--interval` seconds; for each pan
the time from the start of the teacher's POST to the moment the last follower has
read the `view` event (p50, p99, max), and the server process's CPU time (user +
system, psutil) over the pans, per pan and per follower and pan.

On this 2-core machine the followers' client loop shares the cores with the server,
so the latencies include the time this process takes to read 100 streams; the ratio
to the one-follower anchor, measured in the same run, is the fan-out's cost.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import statistics
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import httpx

from benchmarks import slides
from benchmarks.contenders import _slidebridge
from benchmarks.onthefly import _percentile
from benchmarks.report import Column, console, print_goal, print_table, write_json
from benchmarks.serving import SITE, _remove_tree, free_port, register, running, service_env

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SLIDE = REPO / ".." / "shared" / "slides" / "aperio" / "CMU-1-Small-Region.svs"
GOAL_P99_MS = 500.0
COLUMNS = [
    Column("followers", "followers"),
    Column("pans", "pans"),
    Column("p50 ms", "p50_ms", ".1f"),
    Column("p99 ms", "p99_ms", ".1f"),
    Column("max ms", "max_ms", ".1f"),
    Column("lost", "lost"),
    Column("server CPU ms/pan", "cpu_ms_per_pan", ".2f"),
    Column("server CPU µs/follower/pan", "cpu_us_per_follower_pan", ".1f"),
]


def seed_people(env: dict[str, str], trainees: int) -> dict[str, str]:
    """The teacher and the trainees with bearer tokens, written straight into the hub's
    database (one password hash for all: argon2 is slow on purpose)."""
    from app.core.config import Settings
    from app.core.db import Database
    from app.core.security import hash_password
    from app.models.accounts import Role, TokenKind, UserCreate
    from app.services import accounts as crud

    settings = Settings(
        data_dir=Path(env["SLIDEBRIDGE_DATA_DIR"]),
        secret_key=env["SLIDEBRIDGE_SECRET_KEY"],
        environment="production",
    )
    password = secrets.token_urlsafe(16)
    digest = hash_password(password)
    tokens = {}
    db = Database.from_settings(settings)
    with db.write() as session:
        people = [("teacher", Role.pathologist, [SITE])]
        people += [(f"trainee{n}", Role.trainee, []) for n in range(trainees)]
        for username, role, covers in people:
            data = UserCreate(username=username, role=role, covers=covers, password=password)
            user = crud.create_user(session, data, password_hash=digest)
            tokens[username], _ = crud.issue_token(
                session, user, TokenKind.bearer, timedelta(hours=2), settings.secret_key
            )
    db.dispose()
    return tokens


def conference_on(base: str, slide_id: str, teacher: dict[str, str]) -> tuple[str, str]:
    """A collection with a de-identified copy of the slide, and a conference on it."""
    with httpx.Client(base_url=base, headers=teacher, timeout=60) as client:
        made = client.post("/api/teaching/collections", json={"name": "Benchmark"})
        made.raise_for_status()
        items = f"/api/teaching/collections/{made.json()['id']}"
        added = client.post(f"{items}/items", json={"slide": slide_id})
        added.raise_for_status()
        started = client.post(f"{items}/conferences", json={})
        started.raise_for_status()
        return started.json()["id"], added.json()["slides"][0]


async def follower(
    session: aiohttp.ClientSession,
    url: str,
    token: str,
    ready: asyncio.Event,
    arrivals: dict[str, float],
) -> None:
    """Hold the stream; note when each `view` (by its client tag) arrives."""
    headers = {"Authorization": f"Bearer {token}"}
    async with session.get(url, headers=headers, timeout=aiohttp.ClientTimeout(total=None)) as r:
        r.raise_for_status()
        event = ""
        async for raw in r.content:
            line = raw.decode().rstrip("\n")
            if line.startswith("event: "):
                event = line[7:]
                if event == "ready":
                    ready.set()
            elif line.startswith("data: ") and event == "view":
                arrivals.setdefault(json.loads(line[6:])["client"], time.perf_counter())


async def measure(
    base: str,
    conference: str,
    copy: str,
    tokens: dict[str, str],
    followers: int,
    pans: int,
    interval: float,
    server: Any,
) -> dict[str, Any]:
    names = [f"trainee{n}" for n in range(followers)]
    events = f"{base}/api/teaching/conferences/{conference}/events"
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        for name in names:
            auth = {"Authorization": f"Bearer {tokens[name]}"}
            async with session.post(
                f"{base}/api/teaching/conferences/{conference}/join", headers=auth
            ) as joined:
                joined.raise_for_status()
        readies = [asyncio.Event() for _ in names]
        arrivals: list[dict[str, float]] = [{} for _ in names]
        tasks = [
            asyncio.create_task(follower(session, events, tokens[name], ready, seen))
            for name, ready, seen in zip(names, readies, arrivals, strict=True)
        ]
        await asyncio.wait_for(asyncio.gather(*(ready.wait() for ready in readies)), 60)
        teacher = {"Authorization": f"Bearer {tokens['teacher']}"}
        latencies, lost = [], 0
        cpu = server.cpu_times()
        cpu_before = cpu.user + cpu.system
        for pan in range(pans):
            tag = f"pan{followers}-{pan}"
            view = {
                "slide": copy,
                "center": [1000 + pan * 7, 1400 - pan * 5],
                "zoom": 0.5,
                "client": tag,
            }
            sent = time.perf_counter()
            async with session.post(
                f"{base}/api/teaching/conferences/{conference}/view", json=view, headers=teacher
            ) as answer:
                answer.raise_for_status()
            deadline = sent + 10
            while not all(tag in seen for seen in arrivals) and time.perf_counter() < deadline:
                await asyncio.sleep(0.001)
            got = [seen[tag] for seen in arrivals if tag in seen]
            lost += followers - len(got)
            if got:
                latencies.append((max(got) - sent) * 1000)
            await asyncio.sleep(interval)
        cpu = server.cpu_times()
        cpu_s = cpu.user + cpu.system - cpu_before
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return {
        "followers": followers,
        "pans": pans,
        "p50_ms": statistics.median(latencies) if latencies else None,
        "p99_ms": _percentile(sorted(latencies), 99) if latencies else None,
        "max_ms": max(latencies) if latencies else None,
        "lost": lost,
        "cpu_ms_per_pan": cpu_s * 1000 / pans,
        "cpu_us_per_follower_pan": cpu_s * 1e6 / (pans * followers),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("slide", nargs="?", type=Path, default=DEFAULT_SLIDE)
    parser.add_argument("--followers", type=int, default=100)
    parser.add_argument("--pans", type=int, default=200)
    parser.add_argument("--interval", type=float, default=0.1, help="seconds between pans")
    parser.add_argument("--json", type=Path, default=slides.BENCH_DIR / "conference.json")
    args = parser.parse_args()
    work = slides.work_dir("conference-")
    rows = []
    try:
        env = service_env((work / "data").resolve(), secrets.token_urlsafe(48))
        env["SLIDEBRIDGE_STREAMS_PER_USER"] = "4"
        slide_id = register(args.slide.resolve(), env, secrets.token_urlsafe(24))
        tokens = seed_people(env, args.followers)
        port = free_port()
        argv = [_slidebridge(), "serve", "--host", "127.0.0.1", "--port", str(port)]
        with running(argv, env, work / "serve.log") as server:
            base = f"http://127.0.0.1:{port}"
            teacher = {"Authorization": f"Bearer {tokens['teacher']}"}
            conference, copy = conference_on(base, slide_id, teacher)
            for followers in (1, args.followers):
                console.print(f"{followers} follower(s), {args.pans} pans")
                rows.append(
                    asyncio.run(
                        measure(
                            base,
                            conference,
                            copy,
                            tokens,
                            followers,
                            args.pans,
                            args.interval,
                            server,
                        )
                    )
                )
    finally:
        _remove_tree(work)
    print_table("Conference: teacher's pan -> last follower's view", COLUMNS, rows)
    anchor, crowd = rows[0], rows[-1]
    p99 = crowd["p99_ms"]
    print_goal(
        f"p99 < {GOAL_P99_MS:g} ms with {args.followers} followers",
        None if p99 is None else p99 < GOAL_P99_MS and crowd["lost"] == 0,
        f"p99 {p99:.1f} ms, {crowd['lost']} lost" if p99 is not None else "no result",
    )
    ratio = (crowd["p50_ms"] / anchor["p50_ms"]) if anchor["p50_ms"] and crowd["p50_ms"] else None
    if ratio is not None:
        console.print(f"p50 at {args.followers} followers / p50 at 1 follower: {ratio:.2f}x")
    write_json(
        args.json,
        {
            "benchmark": "conference",
            "slide": str(args.slide),
            "pans": args.pans,
            "interval_s": args.interval,
            "goal_p99_ms": GOAL_P99_MS,
            "p50_ratio_to_one_follower": ratio,
            "rows": rows,
        },
    )


if __name__ == "__main__":
    main()
