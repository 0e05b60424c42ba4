"""Render places: per user and overall, in arrival order, on low-priority threads, with a
bounded wait. Real threads and a real event loop; the work blocks on events we release."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import anyio
import pytest

from app.core.errors import BusyError
from app.services.imaging.capacity import RENDER_NICENESS, RenderCapacity

T = TypeVar("T")


def run_loop(main: Callable[..., Awaitable[T]], *args: object) -> T:
    """`anyio.run` on a thread of its own: the browser tests' Playwright keeps an event
    loop running on the main thread of the process they share."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(anyio.run, main, *args).result(timeout=60)


class Works:
    """Work functions that record who is running and wait for `release`."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.lock = threading.Lock()
        self.running: list[str] = []
        self.started: list[str] = []

    def make(self, user: str) -> Callable[[], str]:
        def work() -> str:
            with self.lock:
                self.running.append(user)
                self.started.append(user)
            self.release.wait(10)
            with self.lock:
                self.running.remove(user)
            return user

        return work

    async def until(self, condition: Callable[[], bool]) -> None:
        with anyio.fail_after(5):
            while not condition():
                await anyio.sleep(0.01)


def test_one_user_cannot_take_every_place() -> None:
    capacity = RenderCapacity(total=2, per_user=1, wait_seconds=10)
    works = Works()
    results: list[str] = []

    async def run(user: str) -> None:
        results.append(await capacity.run(user, works.make(user)))

    async def main() -> None:
        async with anyio.create_task_group() as tasks:
            for _ in range(4):
                tasks.start_soon(run, "flooder")
            await works.until(lambda: works.started == ["flooder"])
            await anyio.sleep(0.1)
            assert works.running == ["flooder"]  # one place per user: the others wait
            tasks.start_soon(run, "surgeon")
            await works.until(lambda: len(works.started) == 2)
            assert sorted(works.running) == ["flooder", "surgeon"]
            works.release.set()
        assert sorted(results) == ["flooder"] * 4 + ["surgeon"]

    run_loop(main)
    assert capacity._users == {}  # every user forgotten once done
    capacity.close()


def test_places_overall_in_arrival_order() -> None:
    capacity = RenderCapacity(total=1, per_user=2, wait_seconds=10)
    works = Works()

    async def main() -> None:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(capacity.run, "a", works.make("a1"))
            await works.until(lambda: works.started == ["a1"])
            tasks.start_soon(capacity.run, "b", works.make("b1"))
            await anyio.sleep(0.05)
            tasks.start_soon(capacity.run, "a", works.make("a2"))
            await anyio.sleep(0.05)
            assert capacity.running() == 1 and works.running == ["a1"]
            works.release.set()
        assert works.started == ["a1", "b1", "a2"]

    run_loop(main)
    capacity.close()


def test_a_long_wait_is_busy() -> None:
    capacity = RenderCapacity(total=1, per_user=1, wait_seconds=0.2)
    works = Works()

    async def main() -> None:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(capacity.run, "a", works.make("a"))
            await works.until(lambda: works.started == ["a"])
            began = time.monotonic()
            with pytest.raises(BusyError) as refused:
                await capacity.run("b", works.make("b"))
            assert 0.15 < time.monotonic() - began < 2
            assert refused.value.retry_after > 0
            works.release.set()
        assert works.started == ["a"]  # the refused work never ran

    run_loop(main)
    capacity.close()


def test_renders_run_below_the_service_priority() -> None:
    capacity = RenderCapacity(total=1, per_user=1, wait_seconds=1)

    def niceness() -> tuple[int, str]:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id()), (
            threading.current_thread().name
        )

    nice, name = run_loop(capacity.run, "a", niceness)
    assert nice == min(19, os.getpriority(os.PRIO_PROCESS, 0) + RENDER_NICENESS)
    assert name.startswith("render")
    # The caller's own thread kept its priority.
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) < nice
    capacity.close()
