"""How many renders run at once, in total and per user, on their own low-priority threads.

Renders are the service's expensive requests: a full-resolution region costs
seconds of CPU. One waits here for its place holding no thread and no database
connection: first one of its user's `per_user` places, then one of the `total`
places, in arrival order (a user's queue holds at most `per_user` of the overall
waiters, so it cannot crowd out another user's single request). A request that
waits longer than `wait_seconds` is refused as busy (503 with Retry-After).

Renders run on a thread pool of their own, never the one that serves API
requests, and its threads ask the kernel for a lower priority (nice +10, per
thread on Linux): a flood of renders then takes the CPU tiles and API requests
leave, rather than the other way round.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import anyio

from app.core.errors import BusyError
from app.core.i18n import N_

T = TypeVar("T")

#: How much nicer render threads are than the service's others (19 at most).
RENDER_NICENESS = 10


def _lower_priority() -> None:
    # Linux: a thread id names that thread alone (the nice value is per thread).
    # Elsewhere this may fail, and the places alone bound the work.
    with contextlib.suppress(AttributeError, OSError):
        thread = threading.get_native_id()
        nice = os.getpriority(os.PRIO_PROCESS, thread)
        os.setpriority(os.PRIO_PROCESS, thread, min(19, nice + RENDER_NICENESS))


class RenderCapacity:
    def __init__(self, total: int, per_user: int, wait_seconds: float) -> None:
        self.total = total
        self.per_user = per_user
        self.wait_seconds = wait_seconds
        self._places = anyio.Semaphore(total)
        self._users: dict[Hashable, tuple[anyio.Semaphore, int]] = {}
        self._pool = ThreadPoolExecutor(
            max_workers=total, thread_name_prefix="render", initializer=_lower_priority
        )

    async def run(self, user: Hashable, work: Callable[[], T]) -> T:
        """`work()` on a render thread once `user` has a place; BusyError after waiting
        `wait_seconds` for one."""
        semaphore = self._enter(user)
        try:
            try:
                with anyio.fail_after(self.wait_seconds):
                    await semaphore.acquire()
                    try:
                        await self._places.acquire()
                    except BaseException:
                        semaphore.release()
                        raise
            except TimeoutError:
                raise BusyError(
                    N_("the server is rendering as many images as it can; try again shortly")
                ) from None
            try:
                # Cancelling the wait cancels work that has not started; the pool's
                # size bounds the threads even if a cancelled render is still running.
                return await asyncio.wrap_future(self._pool.submit(work))
            finally:
                self._places.release()
                semaphore.release()
        finally:
            self._leave(user)

    def running(self) -> int:
        """Renders holding a place now."""
        return self.total - self._places.value

    def _enter(self, user: Hashable) -> anyio.Semaphore:
        entry = self._users.get(user)
        semaphore, users = entry if entry is not None else (anyio.Semaphore(self.per_user), 0)
        self._users[user] = (semaphore, users + 1)
        return semaphore

    def _leave(self, user: Hashable) -> None:
        semaphore, users = self._users[user]
        if users == 1:
            del self._users[user]  # nobody holds or waits for it: forget the user
        else:
            self._users[user] = (semaphore, users - 1)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
