"""A loopback TCP proxy that cuts connections: the broken link of an island hospital.

Used by the upload benchmark and by the upload tests.

Each accepted connection is forwarded to the target; while `cuts` remain, the
proxy closes both sides after a random number of client-to-server bytes, the
way a dropped radio link ends a request mid-body. Optional rate shaping of the
uplink, shared by every connection as one radio link is (a sender with two
connections gets the same bandwidth as one with one).
"""

from __future__ import annotations

import random
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress


class CuttingProxy:
    def __init__(
        self, target_port: int, cuts: int, cut_range: tuple[int, int], seed: int = 1,
        rate_bytes_per_s: float | None = None,
    ) -> None:  # fmt: skip
        self.target_port = target_port
        self.cuts_left = cuts
        self.cut_range = cut_range
        self.random = random.Random(seed)
        self.rate = rate_bytes_per_s
        #: When the shared uplink is free again (monotonic seconds).
        self._link_free = 0.0
        self.cuts_done = 0
        self.bytes_up = 0
        self.lock = threading.Lock()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.closing = False

    def _budget(self) -> int | None:
        with self.lock:
            if self.cuts_left <= 0:
                return None
            return self.random.randint(*self.cut_range)

    def _pipe(self, src: socket.socket, dst: socket.socket, cut_after: int | None) -> None:
        """Copy src to dst; client-to-server pipes count bytes and may cut."""
        upstream = cut_after != -1  # -1 marks the server-to-client direction
        try:
            while chunk := src.recv(65536):
                if upstream:
                    with self.lock:
                        self.bytes_up += len(chunk)
                    if cut_after is not None:
                        cut_after -= len(chunk)
                        if cut_after <= 0:
                            with self.lock:
                                self.cuts_left -= 1
                                self.cuts_done += 1
                            break
                    if self.rate:
                        self._wait_for_link(len(chunk))
                dst.sendall(chunk)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()

    def _wait_for_link(self, size: int) -> None:
        """Hold `size` bytes until the shared uplink has carried them."""
        assert self.rate
        with self.lock:
            start = max(time.monotonic(), self._link_free)
            self._link_free = start + size / self.rate
            done = self._link_free
        time.sleep(max(0.0, done - time.monotonic()))

    def _serve(self) -> None:
        while not self.closing:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:  # the server is down (restarting): the client sees a reset
                client.close()
                continue
            up = threading.Thread(target=self._pipe, args=(client, server, self._budget()))
            down = threading.Thread(target=self._pipe, args=(server, client, -1))
            for thread in (up, down):
                thread.daemon = True
                thread.start()

    @contextmanager
    def running(self) -> Iterator[str]:
        thread = threading.Thread(target=self._serve, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{self.port}"
        finally:
            self.closing = True
            self.listener.close()
