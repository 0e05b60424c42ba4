"""Prometheus instruments of one process, and the one way the service exposes them.

What each process measures as it works (tile latency, bytes received, streams and
upload bodies open) lives here; what the database knows (job queue, transfers,
frozen sections) is read at scrape time by `app.services.telemetry`.

Several web processes on one host: set `PROMETHEUS_MULTIPROC_DIR` (prometheus_client's
multiprocess mode, read when it is first imported) to a directory every process of the
host shares, emptied before the first starts; any process then answers for all of them.
Gauges of a process that ended (kill -9 included) are dropped at the next scrape.
Without it each process reports only itself, and a scraper must reach every process
(`metrics_address`, one port per process).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client import multiprocess as _multiprocess
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

#: Set: every process of this host writes its values to files there.
MULTIPROCESS_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None

#: From a pyramid read (~1 ms) to a slow on-the-fly region over a network disk.
TILE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

TILE_SECONDS = Histogram(
    "slidebridge_tile_seconds",
    "Time to answer one Deep Zoom tile request, by where the tile came from: pyramid (built), "
    "on_the_fly (from the finished slide), arriving (final tile of a slide still arriving), "
    "interim (made from what has arrived so far), not_modified (a 304).",
    ["source"],
    buckets=TILE_BUCKETS,
)
UPLOAD_BYTES = Counter(
    "slidebridge_upload_bytes",
    "Slide bytes received and made durable, by protocol (tus, progressive).",
    ["protocol"],
)
OPEN_STREAMS = Gauge(
    "slidebridge_open_streams",
    "Server-Sent Event streams open now (viewers, worklists, operating-room screens).",
    multiprocess_mode="livesum",
)
UPLOAD_BODIES = Gauge(
    "slidebridge_upload_bodies_receiving",
    "Upload request bodies being received now (tus PATCH requests in flight).",
    multiprocess_mode="livesum",
)

#: The tile sources of `TileService.source_name`, as the histogram names them.
TILE_SOURCE = {"pyramid": "pyramid", "live": "on_the_fly", "arriving": "arriving"}


def observe_tile(source: str, seconds: float, *, final: bool = True, fresh: bool = True) -> None:
    """One tile answered: `source` from `TileService`, not `fresh` for a 304."""
    if not fresh:
        label = "not_modified"
    elif not final:
        label = "interim"
    else:
        label = TILE_SOURCE.get(source, source)
    TILE_SECONDS.labels(label).observe(seconds)


_PROCESS_FILE = re.compile(r"^gauge_live\w*?_(\d+)\.db$")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def sweep_dead_processes(directory: Path) -> None:
    """Drop the live gauges of processes that are gone (a kill -9 runs no exit hook)."""
    pids = {
        int(match.group(1))
        for name in os.listdir(directory)
        if (match := _PROCESS_FILE.match(name)) is not None
    }
    for pid in pids - {os.getpid()}:
        if not _alive(pid):
            _multiprocess.mark_process_dead(pid, str(directory))


def process_exits() -> None:
    """This process is stopping: its open-stream and upload gauges no longer count."""
    if MULTIPROCESS_DIR is not None:
        _multiprocess.mark_process_dead(os.getpid(), MULTIPROCESS_DIR)


class _ThisProcess:
    """prometheus_client's default registry (this process's instruments, its CPU and
    memory) inside another registry."""

    def collect(self) -> Iterable[Metric]:
        return REGISTRY.collect()


class _SweptMultiProcess:
    def __init__(self, directory: str) -> None:
        self.directory = directory
        self.inner = _multiprocess.MultiProcessCollector(None, directory)

    def collect(self) -> Iterator[Metric]:
        sweep_dead_processes(Path(self.directory))
        yield from self.inner.collect()


def scrape_registry(*extra: Collector) -> CollectorRegistry:
    """What `/metrics` and the scraper's address answer: the instruments (this process's,
    or every process's of the host in multiprocess mode) plus `extra` collectors."""
    registry = CollectorRegistry(auto_describe=False)
    if MULTIPROCESS_DIR is not None:
        registry.register(_SweptMultiProcess(MULTIPROCESS_DIR))
    else:
        registry.register(_ThisProcess())
    for collector in extra:
        registry.register(collector)
    return registry
