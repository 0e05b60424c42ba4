"""HTTP load for `benchmarks.serving`: N keep-alive clients share one list of tile paths.

Each client is an asyncio task holding one keep-alive connection; every request
takes the next path from the shared list, so all clients together walk the list
once, in order, whatever their number. A run ends when the duration is up or the
list is used up (it never wraps: a second pass would turn on-the-fly tiles into
OpenSlide cache hits). Latency is the time from sending a request to having read
the whole body, on this side of the socket, so it includes the client's own
scheduling delay: the client's CPU is measured too, to show when it, rather than
the server, is the limit.

Two drivers, both real HTTP/1.1 keep-alive connection pools on one event loop
(uvloop where installed, as the servers use):

- `aiohttp` (default): present wherever SlideBridge is installed (tuspy depends
  on it) and cheap per request. On this 2-core machine it drives Starlette's
  StaticFiles at ~1,000 requests/s with 32 connections using a quarter of a core.
- `httpx`: the dev dependency the tests use. Its pool costs several times more CPU
  per request and, at 32 connections, capped the same static server at ~200
  requests/s here: the ceiling would measure httpx, not the server.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any

DRIVERS = ("aiohttp", "httpx")
#: Distinct error descriptions kept per run (the count keeps every one).
MAX_ERROR_SAMPLES = 5

#: One request: path -> (status, body bytes, ETag or "").
Fetch = Callable[[str], Awaitable[tuple[int, int, str]]]


@dataclass
class LoadResult:
    clients: int
    #: Requests answered or failed (not counting any cut off when the time was up).
    requests: int = 0
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    wall_s: float = 0.0
    #: Latencies of the successful requests, seconds, in completion order.
    latencies_s: list[float] = field(default_factory=list)
    bytes: int = 0
    #: CPU time this process (the client) used during the run.
    client_cpu_s: float = 0.0
    #: True if the path list ran out before the duration did.
    exhausted: bool = False

    def error(self, description: str) -> None:
        self.errors += 1
        if description not in self.error_samples and len(self.error_samples) < MAX_ERROR_SAMPLES:
            self.error_samples.append(description)


async def _drive(
    fetch: Fetch,
    paths: Sequence[str],
    clients: int,
    duration_s: float,
    etag_marker: str | None,
    rate: float | None = None,
) -> LoadResult:
    result = LoadResult(clients=clients)
    next_index = 0
    deadline = time.perf_counter() + duration_s

    phases = random.Random(len(paths)).random  # seeded: the same run gives the same phases

    async def client() -> None:
        nonlocal next_index
        # Viewers are not in step: each paced client starts at its own point of the period.
        due = time.perf_counter() + (phases() / rate if rate else 0.0)
        while True:
            if rate is not None:
                # Paced like a viewer: a request every 1/rate s, not one the moment the
                # last answer arrives (which keeps every client's request always queued).
                await asyncio.sleep(max(0.0, due - time.perf_counter()))
                due += 1.0 / rate
            if next_index >= len(paths):
                result.exhausted = True
                return
            if time.perf_counter() >= deadline:
                return
            path = paths[next_index]
            next_index += 1  # one event loop: no other task runs between read and write
            begin = time.perf_counter()
            try:
                status, size, etag = await fetch(path)
            except Exception as exc:  # a benchmark counts failures, it does not stop on them
                result.requests += 1
                result.error(f"{type(exc).__name__}: {exc}"[:200])
                continue
            elapsed = time.perf_counter() - begin
            result.requests += 1
            if status != 200:
                result.error(f"HTTP {status}")
            elif etag_marker is not None and etag_marker not in etag:
                # The service names the tile's source in its ETag; a pyramid row served
                # on the fly (or the reverse) would measure the wrong thing.
                result.error(f"served by the wrong source: ETag {etag}")
            else:
                result.latencies_s.append(elapsed)
                result.bytes += size

    cpu_start = time.process_time()
    start = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    result.wall_s = time.perf_counter() - start
    result.client_cpu_s = time.process_time() - cpu_start
    return result


async def _with_aiohttp(
    base_url: str,
    headers: dict[str, str],
    clients: int,
    body: Callable[[Fetch], Awaitable[Any]],
    verify: bool = True,
) -> Any:
    import aiohttp

    # verify=False: a proxy's self-signed test certificate (benchmarks.scaleout).
    connector = aiohttp.TCPConnector(limit=clients, force_close=False, ssl=verify)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(
        base_url, headers=headers, connector=connector, timeout=timeout
    ) as session:

        async def fetch(path: str) -> tuple[int, int, str]:
            async with session.get(path) as response:
                data = await response.read()
                return response.status, len(data), response.headers.get("etag", "")

        return await body(fetch)


async def _with_httpx(
    base_url: str,
    headers: dict[str, str],
    clients: int,
    body: Callable[[Fetch], Awaitable[Any]],
    verify: bool = True,
) -> Any:
    import httpx

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(
        base_url=base_url, headers=headers, limits=limits, timeout=60, verify=verify
    ) as session:

        async def fetch(path: str) -> tuple[int, int, str]:
            response = await session.get(path)
            return response.status_code, len(response.content), response.headers.get("etag", "")

        return await body(fetch)


def _run(coro: Coroutine[Any, Any, tuple[LoadResult, LoadResult]]) -> tuple[LoadResult, LoadResult]:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)


def run_load(
    base_url: str,
    paths: Sequence[str],
    *,
    clients: int,
    duration_s: float,
    headers: dict[str, str] | None = None,
    driver: str = "aiohttp",
    etag_marker: str | None = None,
    warmup_paths: Sequence[str] = (),
    warmup_s: float = 0.0,
    before_measuring: Callable[[], None] | None = None,
    rate: float | None = None,
    verify: bool = True,
) -> tuple[LoadResult, LoadResult]:
    """`clients` connections fetch `paths` in order until `duration_s` is up or the list ends.

    A warm-up over `warmup_paths` runs first on the same connections, so the measured
    run pays no TCP connects and finds the server's thread pool, slide handles and
    database connections open. `before_measuring` runs between the two (e.g. to read
    the server's CPU counters). `rate` paces each client to that many requests per
    second (None: the next request as soon as the answer arrives). Returns (warm-up, measured).
    """
    opener = {"aiohttp": _with_aiohttp, "httpx": _with_httpx}[driver]

    async def body(fetch: Fetch) -> tuple[LoadResult, LoadResult]:
        warm = await _drive(fetch, warmup_paths, clients, warmup_s, etag_marker, rate)
        if before_measuring is not None:
            before_measuring()
        return warm, await _drive(fetch, paths, clients, duration_s, etag_marker, rate)

    async def main() -> tuple[LoadResult, LoadResult]:
        results: tuple[LoadResult, LoadResult] = await opener(
            base_url, headers or {}, clients, body, verify
        )
        return results

    return _run(main())
