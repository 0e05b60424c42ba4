"""`slidebridge serve` as a real process on its own port and data directory, killed and
restarted at will: what a hub restart does to the clients that talk to it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import PASSWORD, SECRET

SLIDEBRIDGE = Path(sys.executable).parent / "slidebridge"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class HubProcess:
    """One `slidebridge serve` process at a time on a fixed port and data directory."""

    def __init__(
        self, data_dir: Path, *, env: dict[str, str] | None = None, log: Path | None = None
    ) -> None:
        self.port = _free_port()
        self.log = log  # where the server's output goes (else nowhere)
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "SLIDEBRIDGE_ENVIRONMENT": "test",
            "SLIDEBRIDGE_SECRET_KEY": SECRET,
            "SLIDEBRIDGE_DATA_DIR": str(data_dir),
            "SLIDEBRIDGE_BUILD_PROCESSES": "1",
            "SLIDEBRIDGE_UPLOAD_COMMIT_BYTES": str(128 * 1024),
            **(env or {}),
        }
        self.process: subprocess.Popen[bytes] | None = None

    def run(self, *args: str, stdin: str = "") -> None:
        subprocess.run(
            [str(SLIDEBRIDGE), *args], env=self.env, input=stdin.encode(), check=True,
            capture_output=True,
        )  # fmt: skip

    def run_output(self, *args: str) -> str:
        done = subprocess.run(
            [str(SLIDEBRIDGE), *args], env=self.env, check=True, capture_output=True, text=True
        )
        return done.stdout

    def start(self, timeout: float = 60) -> None:
        output = self.log.open("ab") if self.log is not None else subprocess.DEVNULL
        self.process = subprocess.Popen(
            [str(SLIDEBRIDGE), "serve", "--port", str(self.port)],
            env=self.env, stdout=output, stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + timeout  # 60 s: a machine shared with other test runs
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.base}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise AssertionError("slidebridge serve did not come up")

    def kill(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()


@pytest.fixture
def hub_process(tmp_path: Path) -> Iterator[HubProcess]:
    """A hub with site NORTH and its technician `tech` (password PASSWORD), running."""
    hub = HubProcess(tmp_path / "data")
    hub.run("site", "add", "NORTH", "--name", "North")
    hub.run("user", "add", "tech", "--role", "technician", "--site", "NORTH",
            "--password-stdin", stdin=PASSWORD + "\n")  # fmt: skip
    hub.start()
    yield hub
    if hub.process is not None and hub.process.poll() is None:
        hub.kill()


def token_of(hub: HubProcess, username: str = "tech") -> str:
    answer = httpx.post(
        f"{hub.base}/api/auth/token", data={"username": username, "password": PASSWORD}
    )
    token: str = answer.json()["access_token"]
    return token
