"""Sending a slide progressively: byte ranges in the order the pathologist needs them.

The hub answers every range with `wanted`: ranges behind tiles a viewer asked for and
has not got; they go before the plan (`app.agent.plan`). Two connections send at
once, so the link never idles while an answer crosses back. A cut, an agent restart
or a hub restart loses at most the ranges in flight: the hub tells a resuming agent
every interval it holds (declaring the same file again resumes its transfer). The
file crosses once, byte-identical: the hub checks each range's digest and, at the
end, the whole file's SHA-256 declared at the start.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from app.agent.hub import (
    FINAL_STATUSES,
    TIMEOUT,
    UploadRefusedError,
    backoff_seconds,
    file_sha256,
    hub_headers,
    named,
    reason_of,
)
from app.agent.plan import PIECE_BYTES, Span, send_order, tissue_mask, tissue_of
from tiler.byte_layout import file_layout, progressive_reason
from tiler.errors import RangeOverlapError, SlideError
from tiler.received import ReceivedRanges

Progress = Callable[[int, int], None]


class NotProgressiveError(SlideError):
    """A file the hub cannot serve while it arrives: send it in byte order (tus)."""


@dataclass(frozen=True)
class Sent:
    path: Path
    slide_id: str
    transfer_url: str


#: Seconds of link time one planned request should carry: long enough that a request's
#: round trip is a few percent of it, short enough that a viewer's wish waits little.
PIECE_SECONDS = 2.0
#: The most one request carries (the hub takes up to 8 MiB).
MAX_PIECE_BYTES = 4 * 1024 * 1024


def progressive_plan(path: Path, piece_bytes: int = MAX_PIECE_BYTES) -> list[Span]:
    """The order to send `path` in; NotProgressiveError for files the hub reads only whole."""
    try:
        layout = file_layout(path)
    except SlideError as error:
        raise NotProgressiveError(error.reason) from error
    reason = progressive_reason(layout)
    if reason is not None:
        raise NotProgressiveError(reason)
    return send_order(layout, tissue_of(layout, tissue_mask(path)), piece_bytes)


def _digest(body: bytes) -> str:
    """RFC 9530 Content-Digest of a body."""
    return f"sha-256=:{base64.b64encode(hashlib.sha256(body).digest()).decode()}:"


class _Planner:
    """Hands out what to send next: the hub's wishes first, then the plan; never a byte
    that has arrived or is on its way on another connection.

    Wishes go in pieces of `urgent_bytes`. Planned pieces follow the link: about
    PIECE_SECONDS of it each, from the throughput the answers show (connections that
    start together finish together and wait for their answers together, so the link
    idles one round trip per piece: longer pieces make that idle time small)."""

    def __init__(
        self, plan: list[Span], received: ReceivedRanges, urgent_bytes: int, connections: int
    ) -> None:
        self.plan = plan
        self.received = received
        self.urgent_bytes = urgent_bytes
        self.piece_bytes = urgent_bytes
        self.connections = connections
        self._rate_bytes = 0.0
        self._rate_since = time.monotonic()
        self.wanted: list[Span] = []
        self.in_flight: list[Span] = []
        self._next = 0
        self._cond = threading.Condition()
        self.finished = False
        self.failure: BaseException | None = None

    def _free(self, start: int, end: int, most: int) -> Span | None:
        for gap_start, gap_end in self.received.missing(start, end):
            for free_start, free_end in _subtract((gap_start, gap_end), self.in_flight):
                return free_start, min(free_end, free_start + most)
        return None

    def take(self) -> Span | None:
        """The next span to send (None when everything is acknowledged or it failed)."""
        with self._cond:
            while True:
                if self.finished or self.failure is not None:
                    return None
                span = self._pick()
                if span is not None:
                    self.in_flight.append(span)
                    return span
                if not self.in_flight:
                    return None  # nothing missing: the last answer completes it
                self._cond.wait(1.0)

    def _pick(self) -> Span | None:
        for start, end in self.wanted:
            span = self._free(start, end, self.urgent_bytes)
            if span is not None:
                return span
        while self._next < len(self.plan):
            span = self._free(*self.plan[self._next], self.piece_bytes)
            if span is not None:
                return span
            self._next += 1
        return None

    def _measure(self, size: int) -> None:
        """Throughput of the last seconds sets the size of the next planned pieces."""
        self._rate_bytes += size
        elapsed = time.monotonic() - self._rate_since
        if elapsed < 2 * PIECE_SECONDS:
            return
        rate = self._rate_bytes / elapsed
        target = int(rate * PIECE_SECONDS / self.connections)
        self.piece_bytes = max(self.urgent_bytes, min(MAX_PIECE_BYTES, target))
        self._rate_bytes, self._rate_since = 0.0, time.monotonic()

    def done(self, span: Span, answer: dict[str, Any] | None) -> None:
        """`span` arrived (`answer` is the hub's), or was not sent (None): free it."""
        with self._cond:
            self.in_flight.remove(span)
            if answer is not None:
                with contextlib.suppress(RangeOverlapError):  # a resync already has it
                    self.received.add(*span)
                self._measure(span[1] - span[0])
                self.wanted = _joined([(int(a), int(b)) for a, b in answer.get("wanted", [])])
                if answer.get("status") == "completed":
                    self.finished = True
            self._cond.notify_all()

    def resync(self, ranges: Iterable[Iterable[int]], status: str) -> None:
        """The hub's own account of what it holds (after a refusal or a restart)."""
        with self._cond:
            for start, end in ranges:
                self.received.add(int(start), int(end))
            self._next = 0
            if status == "completed":
                self.finished = True
            self._cond.notify_all()

    def fail(self, error: BaseException) -> None:
        with self._cond:
            self.failure = self.failure or error
            self._cond.notify_all()


#: Bytes between two wished ranges that are sent along rather than paying a round trip
#: for each (about a tenth of a second of a 2 Mbit/s link).
JOIN_GAP = 32 * 1024


def _joined(spans: list[Span]) -> list[Span]:
    """The hub's wishes in file order, neighbours joined: a screenful of tiles is a few
    rows of consecutive tiles in the file, so a few requests instead of dozens."""
    joined: list[Span] = []
    for start, end in sorted(spans):
        if joined and start - joined[-1][1] <= JOIN_GAP:
            joined[-1] = (joined[-1][0], max(end, joined[-1][1]))
        else:
            joined.append((start, end))
    return joined


def _subtract(span: Span, taken: list[Span]) -> list[Span]:
    pieces = [span]
    for t_start, t_end in taken:
        rest = []
        for start, end in pieces:
            if t_end <= start or end <= t_start:
                rest.append((start, end))
                continue
            if start < t_start:
                rest.append((start, t_start))
            if t_end < end:
                rest.append((t_end, end))
        pieces = rest
    return pieces


class ProgressiveSender:
    """One hub and one token; `send()` a slide file until the hub has verified it."""

    def __init__(
        self,
        server: str,
        token: str,
        *,
        piece_bytes: int = PIECE_BYTES,
        connections: int = 2,
        max_wait: float = 30.0,
        give_up_after: float = 24 * 3600.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.server = server.rstrip("/")
        self.headers = hub_headers(token)
        self.piece_bytes = piece_bytes
        self.connections = connections
        self.max_wait = max_wait
        self.give_up_after = give_up_after
        self.sleep = sleep
        self.body_bytes = 0  # range bytes put on the wire, resent ones included
        self._count = threading.Lock()

    def send(
        self,
        path: Path,
        *,
        site: str | None = None,
        case: str | None = None,
        progress: Progress | None = None,
        plan: list[Span] | None = None,
    ) -> Sent:
        plan = plan if plan is not None else progressive_plan(path)
        size = path.stat().st_size
        declared = {"filename": path.name, "size": size, "sha256": file_sha256(path)}
        if site:
            declared["site"] = site
        if case:
            declared["case"] = case
        state = self._call(path, "POST", f"{self.server}/api/transfers", json=declared)
        url = f"{self.server}/api/transfers/{state['id']}"
        planner = _Planner(plan, ReceivedRanges(size), self.piece_bytes, self.connections)
        planner.resync(state.get("ranges", []), state["status"])
        if progress is not None:
            progress(planner.received.received_bytes, size)
        workers = [
            threading.Thread(target=self._work, args=(path, url, planner, progress), daemon=True)
            for _ in range(self.connections)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        if planner.failure is not None:
            raise planner.failure
        return self._finish(path, url)

    def _work(self, path: Path, url: str, planner: _Planner, progress: Progress | None) -> None:
        session = requests.Session()
        session.headers.update(self.headers)
        try:
            with open(path, "rb") as handle:
                while (span := planner.take()) is not None:
                    body = os.pread(handle.fileno(), span[1] - span[0], span[0])
                    answer = self._put(session, path, url, span, body, planner)
                    planner.done(span, answer)
                    if progress is not None and answer is not None:
                        progress(planner.received.received_bytes, planner.received.size)
        except BaseException as error:  # a refusal for good: stop every connection
            planner.fail(error)
        finally:
            session.close()

    def _put(
        self,
        session: requests.Session,
        path: Path,
        url: str,
        span: Span,
        body: bytes,
        planner: _Planner,
    ) -> dict[str, Any] | None:
        """Send one span until the hub has it; None when it must be planned again."""
        started = time.monotonic()
        attempt = 0
        while True:
            try:
                with self._count:
                    self.body_bytes += len(body)
                response = session.put(
                    f"{url}/ranges/{span[0]}",
                    data=body,
                    headers={"Content-Digest": _digest(body)},
                    timeout=TIMEOUT,
                )
            except requests.RequestException:
                response = None
            if response is not None and response.status_code in (200, 201):
                answer: dict[str, Any] = response.json()
                return answer
            if response is not None and response.status_code in (409, 416):
                # The hub's account differs from ours (bytes another connection sent
                # before a restart): ask for it and plan again.
                state = self._call(path, "GET", url)
                planner.resync(state.get("ranges", []), state["status"])
                return None
            if response is not None and response.status_code in FINAL_STATUSES:
                raise UploadRefusedError(named(path, reason_of(response.content, "refused")))
            if time.monotonic() - started > self.give_up_after:
                raise UploadRefusedError(named(path, "the hub did not answer for too long"))
            self.sleep(backoff_seconds(attempt, self.max_wait))
            attempt += 1

    def _call(self, path: Path, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
        """A JSON request, retried through cuts and restarts; refusals raised."""
        started = time.monotonic()
        attempt = 0
        while True:
            try:
                response = requests.request(
                    method, url, headers=self.headers, timeout=TIMEOUT, **kwargs
                )
                if response.status_code in (200, 201):
                    body: dict[str, Any] = response.json()
                    return body
                if response.status_code in FINAL_STATUSES:
                    raise UploadRefusedError(named(path, reason_of(response.content, "refused")))
            except requests.RequestException:
                pass
            if time.monotonic() - started > self.give_up_after:
                raise UploadRefusedError(named(path, "the hub did not answer for too long"))
            self.sleep(backoff_seconds(attempt, self.max_wait))
            attempt += 1

    def _finish(self, path: Path, url: str) -> Sent:
        """The hub's verdict (the last answer may have been cut off)."""
        state = self._call(path, "GET", url)
        if state["status"] != "completed":
            raise UploadRefusedError(named(path, str(state.get("error") or state["status"])))
        return Sent(path, str(state["slide_id"]), url)
