"""Run one command and measure its whole process tree: wall, CPU and peak memory.

CPU comes from the kernel's rusage for the reaped child (`os.wait4`), which already
includes every descendant that its parent waited for (pool workers, libvips
threads), so short-lived processes that a sampler would miss still count. Memory
has no such aggregate: a sampler thread sums the RSS of the live tree every
`interval` seconds and keeps the peak (a process living under ~100 ms may be
missed). RSS counts pages shared between forked workers once per process, so a
pool's figure is an upper bound; the proportional set size (PSS: each shared page
split between the processes sharing it) is summed too, every few samples, as the
memory a pool really holds.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

SAMPLE_INTERVAL_S = 0.02
#: Relist the process tree every this many samples (every 100 ms at 20 ms).
_RESCAN_EVERY = 5


@dataclass(frozen=True)
class Measurement:
    wall_s: float
    #: user + system time of the process and its reaped descendants.
    cpu_s: float
    #: Highest sampled sum of the tree's resident set sizes.
    peak_rss_bytes: int
    returncode: int
    stdout: str
    stderr: str
    timed_out: bool = False
    #: Highest sampled sum of the tree's proportional set sizes (0 where unknown).
    peak_pss_bytes: int = 0


class _TreeMemorySampler(threading.Thread):
    def __init__(self, pid: int, interval: float) -> None:
        super().__init__(daemon=True)
        self._interval = interval
        self._stop_event = threading.Event()
        self.peak_rss_bytes = 0
        self.peak_pss_bytes = 0
        try:
            self._root: psutil.Process | None = psutil.Process(pid)
        except psutil.Error:  # already gone: nothing to sample
            self._root = None

    def run(self) -> None:
        procs: list[psutil.Process] = []
        sample = 0
        while self._root is not None and not self._stop_event.is_set():
            # Listing the tree scans every process on the machine (~1 ms here), so it
            # is refreshed every few samples; reading known processes' RSS is cheap.
            if sample % _RESCAN_EVERY == 0:
                procs = self._tree(self._root)
            self.peak_rss_bytes = max(self.peak_rss_bytes, self._rss(procs))
            if sample % _RESCAN_EVERY == 1:  # smaps_rollup costs more than statm
                self.peak_pss_bytes = max(self.peak_pss_bytes, self._pss(procs))
            sample += 1
            self._stop_event.wait(self._interval)

    @staticmethod
    def _tree(root: psutil.Process) -> list[psutil.Process]:
        try:
            return [root, *root.children(recursive=True)]
        except psutil.Error:
            return [root]

    @staticmethod
    def _rss(procs: list[psutil.Process]) -> int:
        total = 0
        for proc in procs:
            try:
                total += int(proc.memory_info().rss)
            except psutil.Error:  # exited since the last listing
                continue
        return total

    @staticmethod
    def _pss(procs: list[psutil.Process]) -> int:
        total = 0
        for proc in procs:
            try:
                total += int(getattr(proc.memory_full_info(), "pss", 0))
            except psutil.Error:
                continue
        return total

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


def _kill_tree(pid: int) -> None:
    """Kill the process we started and its descendants, by pid only."""
    try:
        root = psutil.Process(pid)
        procs = [*root.children(recursive=True), root]
    except psutil.Error:
        return
    for proc in procs:
        try:
            proc.kill()
        except psutil.Error:
            continue


def run_measured(
    argv: Sequence[str],
    *,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    timeout_s: float | None = None,
    interval: float = SAMPLE_INTERVAL_S,
) -> Measurement:
    """Run `argv` to completion (stdout/stderr to files, so no pipe can stall it).

    `env` defaults to os.environ passed explicitly, not the inherited C environment:
    native libraries loaded here (libvips sets VIPSHOME) must not leak into the child.
    """
    if env is None:
        env = dict(os.environ)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(list(argv), stdout=out, stderr=err, cwd=cwd, env=env)
        sampler = _TreeMemorySampler(proc.pid, interval)
        sampler.start()
        timer: threading.Timer | None = None
        timed_out = threading.Event()
        if timeout_s is not None:

            def expire() -> None:
                timed_out.set()
                _kill_tree(proc.pid)

            timer = threading.Timer(timeout_s, expire)
            timer.start()
        # wait4 rather than Popen.wait: it hands back the tree's rusage.
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if timer is not None:
            timer.cancel()
        sampler.stop()
        out.seek(0)
        err.seek(0)
        return Measurement(
            wall_s=wall,
            cpu_s=usage.ru_utime + usage.ru_stime,
            peak_rss_bytes=sampler.peak_rss_bytes,
            peak_pss_bytes=sampler.peak_pss_bytes,
            returncode=proc.returncode,
            stdout=out.read().decode(errors="replace"),
            stderr=err.read().decode(errors="replace"),
            timed_out=timed_out.is_set(),
        )
