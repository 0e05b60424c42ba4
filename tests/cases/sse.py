"""A small Server-Sent Events reader for tests: frames arrive on a queue, read with a timeout."""

from __future__ import annotations

import json
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass
class Frame:
    event: str
    data: dict[str, Any]
    id: int | None


class SSE:
    def __init__(self, base: str, path: str, headers: dict[str, str]) -> None:
        self.frames: queue.Queue[Frame] = queue.Queue()
        self.status: int | None = None
        #: Set when the server ended the stream (or it failed).
        self.ended = threading.Event()
        self._client = httpx.Client(base_url=base, timeout=httpx.Timeout(30, read=None))
        self._opened = threading.Event()
        self._thread = threading.Thread(target=self._read, args=(path, headers), daemon=True)
        self._thread.start()
        self._opened.wait(10)

    def _read(self, path: str, headers: dict[str, str]) -> None:
        try:
            with self._client.stream("GET", path, headers=headers) as response:
                self.status = response.status_code
                self._opened.set()
                if response.status_code != 200:
                    return
                fields: dict[str, str] = {}
                for line in response.iter_lines():
                    if line == "":
                        if "data" in fields:
                            self.frames.put(
                                Frame(
                                    fields.get("event", "message"),
                                    json.loads(fields["data"]),
                                    int(fields["id"]) if "id" in fields else None,
                                )
                            )
                        fields = {}
                    elif not line.startswith(":"):
                        name, _, value = line.partition(": ")
                        fields[name] = value
        except (httpx.HTTPError, RuntimeError):
            self._opened.set()
        finally:
            self.ended.set()

    def next(self, event: str = "case", timeout: float = 5.0) -> Frame:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no {event!r} frame within {timeout} s")
            frame = self.frames.get(timeout=remaining)
            if frame.event == event:
                return frame

    def until(self, predicate: Any, timeout: float = 5.0) -> Frame:
        deadline = time.monotonic() + timeout
        while True:
            frame = self.next("case", max(0.01, deadline - time.monotonic()))
            if predicate(frame.data["case"]):
                return frame

    def close(self) -> None:
        self._client.close()
