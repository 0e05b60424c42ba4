"""An EventSource as a browser runs one: it reconnects after a drop and sends the id of
the last frame it saw as `Last-Event-ID`; it records which web process served each
connection (nginx's `X-Upstream`, added by the test configuration)."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class Frame:
    event: str
    data: dict[str, Any]
    id: int | None


@dataclass
class ResumingStream:
    base: str
    path: str
    headers: dict[str, str]
    frames: list[Frame] = field(default_factory=list)
    #: The upstream of every connection, in order.
    upstreams: list[str] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    last_id: int | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _changed: threading.Condition = field(default_factory=threading.Condition)

    def __post_init__(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        with httpx.Client(
            base_url=self.base, verify=False, timeout=httpx.Timeout(120, read=120)
        ) as client:
            while not self._stop.is_set():
                headers = dict(self.headers)
                if self.last_id is not None:
                    headers["Last-Event-ID"] = str(self.last_id)
                try:
                    with client.stream("GET", self.path, headers=headers) as response:
                        with self._changed:
                            self.statuses.append(response.status_code)
                            self.upstreams.append(response.headers.get("x-upstream", ""))
                            self._changed.notify_all()
                        if response.status_code != 200:
                            return  # as EventSource: a refusal ends it
                        self._read(response)
                except httpx.HTTPError:
                    pass
                time.sleep(0.2)  # the hub's `retry: 1000`, shortened

    def _read(self, response: httpx.Response) -> None:
        fields: dict[str, str] = {}
        for line in response.iter_lines():
            if self._stop.is_set():
                return
            if line == "":
                if "data" in fields:
                    frame = Frame(
                        fields.get("event", "message"),
                        json.loads(fields["data"]),
                        int(fields["id"]) if "id" in fields else None,
                    )
                    with self._changed:
                        if frame.id is not None:
                            self.last_id = frame.id
                        self.frames.append(frame)
                        self._changed.notify_all()
                fields = {}
            elif not line.startswith(":"):
                name, _, value = line.partition(": ")
                fields[name] = value

    def wait(self, predicate: Any, timeout: float = 300.0) -> None:
        """Until `predicate(self)` holds (a bound for a broken test, not a speed check)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not predicate(self):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"stream never got there: {self.frames[-5:]}; connections "
                        f"{list(zip(self.statuses, self.upstreams, strict=True))}"
                    )
                self._changed.wait(remaining)

    def events(self, name: str) -> list[Frame]:
        with self._changed:
            return [frame for frame in self.frames if frame.event == name]

    def close(self) -> None:
        self._stop.set()
